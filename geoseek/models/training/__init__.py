"""MS-VLAM training (``geoseek train``): data, augmentations, the multi-level loss, the loop."""
from geoseek.metrics import dense_recall, mean_recall, recall_at_k
from geoseek.models.training.losses import DEFAULT_LOSS_WEIGHTS, MSVLAMLoss
from geoseek.models.training.trainer import TrainConfig, Trainer, TrainResult

__all__ = ["DEFAULT_LOSS_WEIGHTS", "MSVLAMLoss", "TrainConfig", "TrainResult", "Trainer", "dense_recall", "mean_recall", "recall_at_k"]
