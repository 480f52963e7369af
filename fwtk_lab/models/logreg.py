"""Logistic regression on all pixels."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import check_input_shape, check_positive


class LogReg(nn.Module):
    """Flatten every pixel -> Linear -> logits."""

    takes_blocks = False

    def __init__(self, num_classes: int, input_shape: Sequence[int]):
        super().__init__()
        check_positive("num_classes", num_classes)
        c, self.h, self.w = check_input_shape(input_shape, "C,H,W")
        self.linear = nn.Linear(c * self.h * self.w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))

    def first_layer_weights(self) -> torch.Tensor:
        return self.linear.weight.detach().cpu().reshape(-1, self.h, self.w)
