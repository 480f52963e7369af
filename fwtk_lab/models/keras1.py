"""Keras 1's LSTM as the 2016 series ran it, for the `faithful` rows (cell=keras1_lstm)."""

from __future__ import annotations

import torch
from torch import nn


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 1's hard_sigmoid: clip(0.2 x + 0.5, 0, 1)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class Keras1LSTM(nn.Module):
    """The series' `LSTM(32, activation='sigmoid', inner_activation='hard_sigmoid')` of Keras 1.

    Gates i, f, o are hard sigmoids; the cell input and the output use a sigmoid (not tanh); one bias per
    gate (PyTorch's LSTM has two), so the seed post's model has Keras' 20,877 parameters. Initialised as
    Keras 1: each gate's input weights glorot-uniform, its recurrent weights orthogonal, forget bias 1.
    The weights are laid out as nn.LSTM's (gates i, f, g, o), with nn.LSTM's call signature and outputs.
    """

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True, bidirectional=False
    ):
        super().__init__()
        if num_layers != 1 or bidirectional or not batch_first:
            raise ValueError("cell=keras1_lstm: one layer, one direction (layers=1, bidirectional=false)")
        self.hidden_size = hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_l0 = nn.Parameter(torch.zeros(4 * hidden_size))
        with torch.no_grad():
            for w_ih, w_hh in zip(self.weight_ih_l0.chunk(4), self.weight_hh_l0.chunk(4)):
                nn.init.xavier_uniform_(w_ih)
                nn.init.orthogonal_(w_hh)
            self.bias_l0[hidden_size : 2 * hidden_size] = 1.0  # forget gate

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, F) -> outputs (B, T, H), (h_n, c_n) each (1, B, H)."""
        projected = x @ self.weight_ih_l0.T + self.bias_l0  # every step's input term at once: (B, T, 4H)
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        outputs = []
        for step in projected.unbind(1):
            i, f, g, o = (step + h @ self.weight_hh_l0.T).chunk(4, dim=1)
            c = hard_sigmoid(f) * c + hard_sigmoid(i) * torch.sigmoid(g)
            h = hard_sigmoid(o) * torch.sigmoid(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h[None], c[None])
