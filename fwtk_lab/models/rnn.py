"""Recurrent net over the slicer's blocks, one flattened block per time step."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import RecurrentHead, check_input_shape, check_positive


class RNN(nn.Module):
    """Each block (C, H, w) flattened -> LSTM/GRU/RNN -> final state of the top layer -> dropout -> Linear.

    The original Keras LSTM used activation='sigmoid' and inner_activation='hard_sigmoid';
    PyTorch's LSTM uses tanh and sigmoid, and we keep PyTorch's.
    """

    takes_blocks = True

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        cell: str = "lstm",
        hidden: int = 32,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.5,
    ):
        super().__init__()
        check_positive("num_classes", num_classes)
        _, c, self.h, self.w = check_input_shape(input_shape, "T,C,H,w")
        self.recurrent = RecurrentHead(c * self.h * self.w, num_classes, cell, hidden, layers, bidirectional, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recurrent(x.flatten(2))  # (B, T, C, H, w) -> (B, T, C*H*w)

    def first_layer_weights(self) -> torch.Tensor:
        return self.recurrent.input_weights(self.h, self.w)
