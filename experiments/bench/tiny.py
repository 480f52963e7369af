"""An encoder that does almost nothing, so that a training step's time is the framework's own (fixed cost)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ONE_PARAMETER = ["model=logreg", "model._target_=experiments.bench.tiny.OneParameter"]  # as a model= override


class OneParameter(nn.Module):
    """logits = w x (the first `num_classes` pixels of each image): one parameter, a few tiny ops a step."""

    takes_blocks = False

    def __init__(self, num_classes: int, input_shape: Sequence[int]):
        super().__init__()
        self.k = num_classes
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, : self.k] * self.w
