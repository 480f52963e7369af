"""Honest confidence: a temperature fitted on the validation split, and the calibration error around it.

`Calibration` is a torchmetrics Metric that keeps an epoch's logits and labels (torchmetrics gathers
them across DDP ranks, uneven shards included); `fit_temperature` finds the T that minimises the
negative log-likelihood of probabilities(logits / T); `ece` is torchmetrics' expected calibration error.
"""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_calibration_error

from fwtk_lab.training.losses import probabilities

BINS = 15  # equal-width confidence bins of the ECE
LOG_T = (math.log(0.01), math.log(100.0))  # the temperatures searched


class Calibration(Metric):
    """An epoch's logits (float32) and labels."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("logits", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.logits.append(logits.detach().float())
        self.labels.append(labels.detach())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        logits, labels = self.logits, self.labels
        if isinstance(logits, list):  # one process: the list is not concatenated for us
            logits, labels = torch.cat(logits), torch.cat(labels)
        return logits, labels


def nll(loss: str, logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    p = probabilities(loss, logits.double() / temperature).clamp_min(1e-12)
    return float(-p.gather(1, labels[:, None]).log().mean())


def fit_temperature(loss: str, logits: torch.Tensor, labels: torch.Tensor, iterations: int = 40) -> float:
    """The temperature of least NLL (golden-section search over log T; the NLL is unimodal in it)."""
    if len(labels) == 0:
        return 1.0
    a, b = LOG_T
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(loss, logits, labels, math.exp(c)), nll(loss, logits, labels, math.exp(d))
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(loss, logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(loss, logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def ece(loss: str, logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Expected calibration error (l1, BINS bins) of the probabilities at this temperature."""
    if len(labels) == 0:
        return float("nan")
    p = probabilities(loss, logits.double() / temperature).float()
    return float(multiclass_calibration_error(p, labels, num_classes=p.shape[1], n_bins=BINS, norm="l1"))
