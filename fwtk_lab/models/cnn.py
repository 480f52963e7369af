"""Convolutional net on the whole image."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import check_dropout, check_input_shape, check_positive, conv_block, make_activation


class CNN(nn.Module):
    """Conv (same) -> ReLU -> max-pool -> dropout -> flatten -> Linear(hidden) -> activation -> Linear."""

    takes_blocks = False

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        filters: int = 4,
        kernel_size: int = 5,
        pool: int = 2,
        dropout: float = 0.5,
        hidden: int = 32,
        activation: str = "sigmoid",
    ):
        super().__init__()
        check_positive("num_classes", num_classes)
        for name, value in [("filters", filters), ("kernel_size", kernel_size), ("pool", pool), ("hidden", hidden)]:
            check_positive(name, value)
        check_dropout(dropout)
        c, h, w = check_input_shape(input_shape, "C,H,W")
        self.conv = conv_block(c, filters, kernel_size, pool)
        if h // pool < 1 or w // pool < 1:
            raise ValueError(f"pool={pool!r} shrinks the {h}x{w} image to nothing")
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(filters * (h // pool) * (w // pool), hidden)
        self.act = make_activation(activation)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.dropout(self.conv(x)).flatten(1)
        return self.out(self.act(self.hidden(z)))

    def first_layer_weights(self) -> torch.Tensor:
        weight = self.conv[0].weight  # (out, in, k, k)
        return weight.detach().cpu().reshape(-1, *weight.shape[-2:])
