"""Multilayer perceptron with one hidden layer."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import check_input_shape, check_positive, make_activation


class MLP(nn.Module):
    """Flatten every pixel -> Linear(hidden) -> activation -> Linear -> logits."""

    takes_blocks = False

    def __init__(self, num_classes: int, input_shape: Sequence[int], hidden: int = 16, activation: str = "sigmoid"):
        super().__init__()
        check_positive("num_classes", num_classes)
        check_positive("hidden", hidden)
        c, self.h, self.w = check_input_shape(input_shape, "C,H,W")
        self.hidden = nn.Linear(c * self.h * self.w, hidden)
        self.act = make_activation(activation)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(x.flatten(1))))

    def first_layer_weights(self) -> torch.Tensor:
        return self.hidden.weight.detach().cpu().reshape(-1, self.h, self.w)
