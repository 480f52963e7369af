"""Training losses by name (`loss:` in train.yaml): softmax cross-entropy, or the series' Keras 1 defect."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

KERAS_EPSILON = 1e-7  # Keras 1's backend epsilon, the clip of categorical_crossentropy


def keras_sigmoid_ce(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The series' steps 5 and 6: a sigmoid output layer under Keras 1 categorical cross-entropy.

    Keras 1 divides the outputs by their sum, clips them to [eps, 1 - eps] and takes -log p_true.
    """
    p = torch.sigmoid(logits)
    p = (p / p.sum(dim=1, keepdim=True)).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    nll = -torch.log(p.gather(1, labels[:, None]).squeeze(1))
    if reduction == "sum":
        return nll.sum()
    if reduction == "none":
        return nll
    return nll.mean()


LOSSES: dict[str, Callable[..., torch.Tensor]] = {"ce": F.cross_entropy, "keras_sigmoid_ce": keras_sigmoid_ce}


def get(name: str) -> Callable[..., torch.Tensor]:
    """The loss called `name`; (logits, labels, reduction=) -> tensor."""
    if name not in LOSSES:
        raise ValueError(f"loss={name!r}; accepted: {', '.join(LOSSES)}")
    return LOSSES[name]


def probabilities(name: str, logits: torch.Tensor) -> torch.Tensor:
    """The class probabilities the loss `name` trains: softmax, or normalised sigmoids for keras_sigmoid_ce."""
    if name == "keras_sigmoid_ce":
        p = torch.sigmoid(logits)
        return p / p.sum(dim=-1, keepdim=True)
    return torch.softmax(logits, dim=-1)
