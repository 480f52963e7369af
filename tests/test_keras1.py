"""Keras 1's LSTM (cell=keras1_lstm), the faithful rows' recurrent layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fwtk_lab.models.cnn_rnn import CNNRNN
from fwtk_lab.models.keras1 import Keras1LSTM


def keras1_step_by_step(x: np.ndarray, w: np.ndarray, u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Keras 1's LSTM.step written from its source, one sample and gate at a time (gates i, f, c, o)."""

    def hard_sigmoid(z):
        return np.clip(0.2 * z + 0.5, 0.0, 1.0)

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    n = len(b) // 4
    gate = {name: slice(k * n, (k + 1) * n) for k, name in enumerate("ifco")}
    finals = []
    for sample in x:
        h, c = np.zeros(n), np.zeros(n)
        for xt in sample:
            pre = {g: xt @ w[s].T + b[s] + h @ u[s].T for g, s in gate.items()}
            i, f, o = hard_sigmoid(pre["i"]), hard_sigmoid(pre["f"]), hard_sigmoid(pre["o"])
            c = f * c + i * sigmoid(pre["c"])
            h = o * sigmoid(c)
        finals.append(h)
    return np.stack(finals)


def test_matches_keras1_step_formula():
    torch.manual_seed(0)
    cell = Keras1LSTM(6, 5)
    with torch.no_grad():
        cell.bias_l0.normal_()
    x = torch.randn(3, 4, 6) * 3  # large enough that the hard sigmoids clip somewhere
    out, (h, c) = cell(x)
    w, u, b = (p.detach().double().numpy() for p in (cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_l0))
    expected = keras1_step_by_step(x.double().numpy(), w, u, b)
    assert out.shape == (3, 4, 5) and h.shape == c.shape == (1, 3, 5)
    np.testing.assert_allclose(h[0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(out[:, -1], h[0])


def test_initialised_as_keras1():
    torch.manual_seed(0)
    cell = Keras1LSTM(128, 32)
    forget = cell.bias_l0[32:64]
    assert torch.all(forget == 1) and cell.bias_l0[:32].abs().sum() == 0 and cell.bias_l0[64:].abs().sum() == 0
    for u in cell.weight_hh_l0.detach().chunk(4):  # each gate's recurrent matrix is orthogonal
        torch.testing.assert_close(u @ u.T, torch.eye(32), atol=1e-5, rtol=0)
    limit = (6 / (128 + 32)) ** 0.5  # glorot uniform per gate's (128, 32) matrix
    assert cell.weight_ih_l0.abs().max() <= limit and cell.weight_ih_l0.abs().max() > 0.9 * limit


def test_seed_post_model_has_the_posts_keras_parameter_count():
    """The reference: 20,877 parameters in Keras (one bias per gate); PyTorch's LSTM adds 128."""
    stack = [{"out_channels": 4, "kernel_size": 5, "pool": 2}]
    keras = CNNRNN(5, (8, 1, 16, 8), conv_stack=stack, cell="keras1_lstm", hidden=32)
    torch_lstm = CNNRNN(5, (8, 1, 16, 8), conv_stack=stack, cell="lstm", hidden=32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(keras) == 20_877 and count(torch_lstm) == 20_877 + 128
    logits = keras(torch.rand(2, 8, 1, 16, 8))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in keras.parameters())


@pytest.mark.parametrize("layers,bidirectional", [(2, False), (1, True)])
def test_one_layer_one_direction_only(layers, bidirectional):
    with pytest.raises(ValueError, match="keras1_lstm: one layer, one direction"):
        CNNRNN(5, (8, 1, 16, 8), cell="keras1_lstm", layers=layers, bidirectional=bidirectional)
