"""The series' "minimal features" model: logistic regression on the size of the inked area."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import check_input_shape, check_positive

FEATURES = ("width", "height", "top", "bottom")


def ink_box(x: torch.Tensor, threshold: float) -> dict[str, torch.Tensor]:
    """Bounding box of the pixels > threshold in each image of x (B, C, H, W), normalised to [0, 1].

    width = inked columns from first to last / W, height = inked rows from first to last / H,
    top = first inked row / H, bottom = (last inked row + 1) / H. An image with no ink gives zeros.
    """
    _, _, h, w = x.shape
    ink = (x > threshold).any(dim=1)  # (B, H, W)
    rows, cols = ink.any(dim=2), ink.any(dim=1)  # (B, H), (B, W)
    has_ink = rows.any(dim=1)

    def first(m: torch.Tensor) -> torch.Tensor:
        return m.float().argmax(dim=1)  # index of the first True

    def last(m: torch.Tensor) -> torch.Tensor:
        return m.shape[1] - 1 - first(m.flip(1))

    top, bottom = first(rows), last(rows) + 1
    left, right = first(cols), last(cols) + 1
    box = {"width": (right - left) / w, "height": (bottom - top) / h, "top": top / h, "bottom": bottom / h}
    return {k: torch.where(has_ink, v.float(), torch.zeros_like(v, dtype=torch.float)) for k, v in box.items()}


class SizeFeatures(nn.Module):
    """Chosen ink-box features, computed on the fly from the batch -> Linear -> logits."""

    takes_blocks = False

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        features: Sequence[str] = FEATURES,
        threshold: float = 0.5,
    ):
        super().__init__()
        check_positive("num_classes", num_classes)
        check_input_shape(input_shape, "C,H,W")
        features = [str(f) for f in features]
        bad = [f for f in features if f not in FEATURES]
        if bad or not features or len(set(features)) != len(features):
            raise ValueError(f"features={features!r}: expected distinct names from {', '.join(FEATURES)}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold={threshold!r}: expected a number in [0, 1) (pixels are in [0, 1])")
        self.features = features
        self.threshold = float(threshold)
        self.linear = nn.Linear(len(features), num_classes)

    def featurize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, len(features)) features."""
        box = ink_box(x, self.threshold)
        return torch.stack([box[f] for f in self.features], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.featurize(x))

    def first_layer_weights(self) -> None:
        return None
