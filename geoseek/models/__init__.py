"""Encoders: a spec string becomes an Encoder with encode_images / encode_dense / encode_texts."""
from geoseek.models.encoder import Encoder, resolve_device
from geoseek.models.factory import build_from_config, load_encoder, load_model
from geoseek.models.specs import (
    DEFAULT_SPEC,
    NAMED_CHECKPOINTS,
    ModelSpecError,
    parse_spec,
)

__all__ = [
    "DEFAULT_SPEC",
    "NAMED_CHECKPOINTS",
    "Encoder",
    "ModelSpecError",
    "build_from_config",
    "load_encoder",
    "load_model",
    "parse_spec",
    "resolve_device",
]
