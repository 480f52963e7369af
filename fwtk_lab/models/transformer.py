"""Transformer encoder over the slicer's blocks (beyond the 2016 series)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fwtk_lab.models.layers import check_dropout, check_input_shape, check_positive


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sin/cos positional encoding of shape (length, dim), as in 'Attention Is All You Need'."""
    pos = torch.arange(length, dtype=torch.float, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float, device=device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class Transformer(nn.Module):
    """Each block flattened -> Linear(d_model) + sinusoidal position -> pre-norm encoder -> mean over
    blocks -> LayerNorm -> Linear. The positions are computed, not learned, so any number of blocks works."""

    takes_blocks = True

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        d_model: int = 64,
        nhead: int = 4,
        layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        check_positive("num_classes", num_classes)
        for name, value in [
            ("d_model", d_model),
            ("nhead", nhead),
            ("layers", layers),
            ("dim_feedforward", dim_feedforward),
        ]:
            check_positive(name, value)
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} is not divisible by nhead={nhead}")
        check_dropout(dropout)
        _, c, self.h, self.w = check_input_shape(input_shape, "T,C,H,w")
        self.embed = nn.Linear(c * self.h * self.w, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x.flatten(2))  # (B, T, d_model)
        z = z + sinusoidal_positions(z.shape[1], z.shape[2], z.device)
        z = self.encoder(z).mean(dim=1)
        return self.head(self.norm(z))

    def first_layer_weights(self) -> torch.Tensor:
        return self.embed.weight.detach().cpu().reshape(-1, self.h, self.w)
