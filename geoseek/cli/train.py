"""`geoseek train`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import setup_logging, user_errors


def train(
    data: Annotated[Path, typer.Option("--data", help="Karpathy-style dataset.json with train/val splits.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory: best.pt, last.pt, history.json.")],
    model: Annotated[str, typer.Option(help="Model spec to start from.")] = "geoseek-default:random",
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Default 20, or the resumed run's own.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 128,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-3,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0)] = 0.05,
    loss_weights: Annotated[str, typer.Option("--loss-weights", help="Weights of the global,region,object losses.")] = "1,0.5,0.5",
    patience: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many epochs without a better val mR "
                                                    "(default 4, or the resumed run's own).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    train_split: Annotated[str, typer.Option("--train-split")] = "train",
    val_split: Annotated[str, typer.Option("--val-split")] = "val",
    limit: Annotated[Optional[int], typer.Option(min=2, help="Use only the first N images of each split.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="Folder holding the dataset json's images "
                         "(default: found next to the json, as `geoseek index` finds it).")] = None,
    mosaic: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of each batch made of 2x2 mosaics of four "
                                          "train images (multi-instance: a tile's caption must find its tile).")] = 0.0,
    keep_epochs: Annotated[int, typer.Option("--keep-epochs", min=0, help="Keep the weights of the last N epochs in "
                                             "OUT/epochs/ for `geoseek average-checkpoints`.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a model with the MS-VLAM multi-level contrastive loss; writes OUT/best.pt (a model spec)."""
    setup_logging(True)
    from geoseek.models.training import TrainConfig, Trainer
    from geoseek.schemas import LevelWeights

    with user_errors():
        weights = LevelWeights.parse(loss_weights, "--loss-weights")
        cfg = TrainConfig(dataset=str(data), model=model, out=str(out), epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, loss_weights=(weights.global_, weights.region, weights.object),
                          seed=seed, patience=patience, train_split=train_split, val_split=val_split, limit=limit,
                          device=device, image_dir=str(image_dir) if image_dir else None, mosaic=mosaic,
                          keep_epochs=keep_epochs)
        result = Trainer(cfg, resume=resume, progress=not quiet).run()
    best = result.best_val
    typer.echo(f"trained {result.epochs_run} epoch(s) in {result.seconds:.0f}s"
               f"{' (early stop)' if result.stopped_early else ''}; best val mR {best.get('val_mR', float('nan')):.2f} "
               f"at epoch {result.best_epoch}; model: {result.checkpoint}", err=True)


def average_checkpoints(
    checkpoints: Annotated[list[Path], typer.Argument(help="Two or more checkpoints of one run (e.g. OUT/epochs/*.pt).")],
    out: Annotated[Path, typer.Option("--out", help="The averaged checkpoint to write (a model spec, like best.pt).")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Dataset json: also score the average on --split "
                                                  "with the trainer's val metric and store the figure in it.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split to score on (never one you report).")] = "val",
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="Folder holding the dataset json's images.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
) -> None:
    """Average the weights of several epochs of one training run into one checkpoint."""
    setup_logging(True)
    from geoseek.models.training.averaging import write_average

    with user_errors():
        train = write_average(checkpoints, out, dataset=data, split=split, image_dir=image_dir, device=device)
    epochs = ", ".join(str(s["epoch"]) for s in train["averaged_from"])
    scored = train.get("averaged_val")
    typer.echo(f"averaged epochs {epochs} into {out}"
               + (f"; {split} mR {scored['mR']:.2f}" if scored else ""), err=True)
