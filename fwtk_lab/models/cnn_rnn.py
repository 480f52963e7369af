"""Convolution on every block (shared weights) feeding a recurrent net: the series' final model."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import RecurrentHead, check_input_shape, check_positive, conv_block

CONV_KEYS = ("out_channels", "kernel_size", "pool")
SEED_STACK = ({"out_channels": 4, "kernel_size": 5, "pool": 2},)  # the seed post's model 6a


class CNNRNN(nn.Module):
    """Conv stack applied to each block (blocks folded into the batch) -> flatten -> recurrent head.

    conv_stack is a list of {out_channels, kernel_size, pool}, each a Conv2d (same padding) -> ReLU ->
    MaxPool2d(pool). The recurrent part is as in fwtk_lab.models.rnn.RNN (PyTorch's tanh LSTM, not the
    original's sigmoid/hard_sigmoid one).
    """

    takes_blocks = True

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        conv_stack: Sequence[Mapping[str, int]] = SEED_STACK,
        cell: str = "lstm",
        hidden: int = 32,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.5,
    ):
        super().__init__()
        check_positive("num_classes", num_classes)
        _, c, h, w = check_input_shape(input_shape, "T,C,H,w")
        if len(conv_stack) == 0:
            raise ValueError("conv_stack=[]: expected at least one {out_channels, kernel_size, pool} layer")
        stack = [self._layer_args(i, spec) for i, spec in enumerate(conv_stack)]
        blocks, out_h, out_w = [], h, w
        for out_channels, kernel_size, pool in stack:
            blocks.append(conv_block(c, out_channels, kernel_size, pool))
            c, out_h, out_w = out_channels, out_h // pool, out_w // pool
        if out_h < 1 or out_w < 1:
            raise ValueError(f"conv_stack {stack} (out_channels, kernel_size, pool) pools the {h}x{w} block to nothing")
        self.conv = nn.Sequential(*blocks)
        self.recurrent = RecurrentHead(c * out_h * out_w, num_classes, cell, hidden, layers, bidirectional, dropout)

    @staticmethod
    def _layer_args(i: int, spec: Mapping[str, int]) -> tuple[int, int, int]:
        if not isinstance(spec, Mapping) or set(spec.keys()) != set(CONV_KEYS):
            raise ValueError(
                f"conv_stack[{i}]={spec!r}: expected a mapping with exactly the keys {', '.join(CONV_KEYS)}"
            )
        return tuple(spec[k] for k in CONV_KEYS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        z = self.conv(x.flatten(0, 1))  # one conv call on all B*T blocks: (B*T, C', h', w')
        return self.recurrent(z.reshape(b, t, -1))

    def first_layer_weights(self) -> torch.Tensor:
        weight = self.conv[0][0].weight  # (out, in, k, k)
        return weight.detach().cpu().reshape(-1, *weight.shape[-2:])
