"""A checkpoint's model for inference, rebuilt without Lightning: the slicer and encoder that FontClassifier
trained, with the run's config, class names, image shape and calibration (temperature, unknown threshold).

`python -m fwtk_lab.predict` answers for one image without loading Lightning or torchmetrics (seconds of
imports on a small machine); tests/test_predict.py checks that it gives FontClassifier's probabilities.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import OmegaConf

from fwtk_lab.models.build import build_slicer_and_encoder, logits

WEIGHTS = ("slicer.", "encoder.")  # the state_dict entries of the model itself (not metrics or calibration)


class Classifier(torch.nn.Module):
    """FontClassifier's forward (slicer -> encoder -> logits) and the attributes inference reads."""

    def __init__(self, cfg: dict, classes: list[str], image_shape: tuple[int, int]):
        super().__init__()
        self.hparams = SimpleNamespace(cfg=cfg, classes=list(classes), image_shape=tuple(image_shape))
        self.cfg = OmegaConf.create(cfg)
        self.classes = list(classes)
        self.slicer, self.encoder = build_slicer_and_encoder(self.cfg, len(self.classes), tuple(image_shape))
        self.temperature = 1.0  # fitted on the validation split during training
        self.unknown_threshold: float | None = None  # chosen by `python -m fwtk_lab.calibrate`

    @property
    def device(self) -> torch.device:
        return next(self.parameters(), torch.empty(0)).device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Float images (B, 1, H, W) in [0, 1] -> logits (B, classes), as FontClassifier.forward."""
        return logits(self.slicer, self.encoder, images)


def from_checkpoint(ckpt: dict[str, Any]) -> Classifier:
    """The Classifier of a loaded fwtk_lab checkpoint, in eval mode; every weight must match (strict)."""
    hp = ckpt["hyper_parameters"]
    model = Classifier(hp["cfg"], hp["classes"], hp["image_shape"])
    model.load_state_dict({k: v for k, v in ckpt["state_dict"].items() if k.startswith(WEIGHTS)})
    saved = ckpt.get("calibration") or {}  # as FontClassifier.on_load_checkpoint
    model.temperature = float(saved.get("temperature", 1.0))
    threshold = saved.get("unknown_threshold")
    model.unknown_threshold = None if threshold is None else float(threshold)
    return model.eval()
