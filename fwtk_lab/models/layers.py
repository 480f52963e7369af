"""Small pieces shared by several models: argument checks, activations, the recurrent head."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.keras1 import Keras1LSTM

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "keras1_lstm": Keras1LSTM}
GATES = {"lstm": 4, "gru": 3, "rnn": 1, "keras1_lstm": 4}


def check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")


def check_dropout(value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout={value!r}: expected a probability in [0, 1)")


def check_input_shape(input_shape: Sequence[int], names: str) -> tuple[int, ...]:
    """Return input_shape as a tuple of positive ints, checking it has the dims named in `names`."""
    dims = names.split(",")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != len(dims) or min(shape) < 1:
        raise ValueError(f"input_shape={tuple(input_shape)!r}: expected positive ({', '.join(dims)})")
    return shape


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class RecurrentHead(nn.Module):
    """Recurrent net over (B, T, F) features -> top layer's final hidden state -> dropout -> Linear."""

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        cell: str,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: expected one of {', '.join(CELLS)}")
        check_positive("hidden", hidden)
        check_positive("layers", layers)
        check_dropout(dropout)
        self.cell = cell
        self.directions = 2 if bidirectional else 1
        self.rnn = CELLS[cell](input_size, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.directions * hidden, num_classes)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(seq)
        if self.cell in ("lstm", "keras1_lstm"):
            h = h[0]  # (h_n, c_n) -> h_n
        # h_n: (layers * directions, B, hidden); the top layer's states are the last `directions` rows.
        # For a bidirectional net the backward row is its state after reading back to step 0 (as Keras).
        final = torch.cat(list(h[-self.directions :]), dim=-1)
        return self.head(self.dropout(final))

    def input_weights(self, *block_shape: int) -> torch.Tensor:
        """Layer-0 forward input-to-hidden weights, (gates * hidden, features) reshaped to (-1, *block_shape)."""
        return self.rnn.weight_ih_l0.detach().cpu().reshape(-1, *block_shape)


class MaxPool(nn.MaxPool2d):
    """MaxPool2d taken in channels-last layout on the CPU: the same values, 2-3x faster on these small planes
    (PyTorch's NCHW kernel spent 30% of a cnn_rnn training step on 16x8 planes; experiments/bench.md)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x)


def conv_block(in_channels: int, out_channels: int, kernel_size: int, pool: int) -> nn.Sequential:
    """Conv2d (same padding) -> ReLU -> MaxPool2d(pool): the series' convolution layer.

    Built as Conv2d -> MaxPool -> ReLU: max and ReLU commute, so the values are the same, and the ReLU
    touches pool^2 times fewer elements (no parameters move: the conv stays at index 0).
    """
    check_positive("out_channels", out_channels)
    check_positive("kernel_size", kernel_size)
    check_positive("pool", pool)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding="same"),
        MaxPool(pool),
        nn.ReLU(),
    )
