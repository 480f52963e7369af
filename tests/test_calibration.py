"""Honest confidence: the temperature fit, the calibration error, window combination, the unknown threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fwtk_lab.calibrate import choose_threshold
from fwtk_lab.inference.classify import combine
from fwtk_lab.training.calibration import Calibration, ece, fit_temperature, nll


def overconfident(n: int, true_t: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose labels are drawn from softmax(z), reported as z * true_t (too sure when true_t > 1)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 5, generator=g) * 2.0
    labels = torch.multinomial(torch.softmax(z, dim=1), 1, generator=g).squeeze(1)
    return z * true_t, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.0])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    logits, labels = overconfident(20000, true_t)
    t = fit_temperature("ce", logits, labels)
    assert abs(t / true_t - 1) < 0.1, (t, true_t)
    assert nll("ce", logits, labels, t) <= nll("ce", logits, labels, 1.0) + 1e-9
    if true_t != 1.0:
        assert ece("ce", logits, labels, t) < ece("ce", logits, labels) / 2
    assert ece("ce", logits, labels, t) < 0.02


def test_fit_temperature_works_for_the_series_sigmoid_outputs():
    logits, labels = overconfident(5000, 2.0)
    t = fit_temperature("keras_sigmoid_ce", logits, labels)
    assert nll("keras_sigmoid_ce", logits, labels, t) <= nll("keras_sigmoid_ce", logits, labels, 1.0)
    assert 0.01 < t < 100


def test_calibration_metric_keeps_an_epoch_and_resets():
    m = Calibration()
    logits, labels = overconfident(100, 1.0)
    m.update(logits[:60], labels[:60])
    m.update(logits[60:], labels[60:])
    got_logits, got_labels = m.compute()
    assert torch.equal(got_logits, logits.float()) and torch.equal(got_labels, labels)
    m.reset()
    m.update(logits[:3], labels[:3])
    assert len(m.compute()[1]) == 3


def test_combining_windows_is_a_normalised_geometric_mean():
    agree = torch.log(torch.tensor([[0.9, 0.05, 0.05]] * 4, dtype=torch.float64))
    p = combine(agree)
    assert np.allclose(p, [0.9, 0.05, 0.05])  # agreeing windows: as sure as one
    split = torch.log(torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]], dtype=torch.float64))
    q = combine(split)
    assert abs(q.sum() - 1) < 1e-9 and q.max() < 0.5 and abs(q[0] - q[1]) < 1e-9  # disagreeing: unsure
    one_strong = torch.log(torch.tensor([[0.98, 0.01, 0.01], [0.4, 0.3, 0.3]], dtype=torch.float64))
    assert combine(one_strong).argmax() == 0


def test_unknown_threshold_is_the_known_quantile():
    known = np.linspace(0.5, 1.0, 101)
    t = choose_threshold(known, 0.03)
    assert abs((known < t).mean() - 0.03) <= 0.01
