"""The training split's running loss and accuracy, kept on the device: a few tensor ops a step, no host sync.

torchmetrics' MeanMetric and MulticlassAccuracy cost about 0.2 ms of Python a step (argument handling, state
bookkeeping), as much as a whole step of the smaller models; validation and testing keep them. The sums are
buffers, so every checkpoint holds them and a run resumed inside an epoch reports the same epoch figures.
"""

from __future__ import annotations

import torch
from torch import nn

LEGACY = {  # state_dict keys of the torchmetrics objects these totals replaced (checkpoints before 2026-12-05)
    "loss": "losses.TRAIN.mean_value",  # MeanMetric: sum of loss x batch size
    "weight": "losses.TRAIN.weight",  # MeanMetric: images
    "tp": "metrics.TRAIN.acc.tp",  # MulticlassAccuracy(average="micro"): correct = tp, seen = tp + fn
    "fp": "metrics.TRAIN.acc.fp",
    "tn": "metrics.TRAIN.acc.tn",
    "fn": "metrics.TRAIN.acc.fn",
}


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite: the run stops, its last good checkpoint stays."""

    exit_code = 3


class TrainTotals(nn.Module):
    """Sums over the current epoch's training batches, and the recent losses for the finiteness check.

    `check` reads the recent losses (a host sync): the module calls it on the logging steps, which read the
    device anyway, before every checkpoint and at the epoch's end, so no checkpoint holds non-finite weights.
    """

    def __init__(self, window: int = 64):
        super().__init__()
        self.register_buffer("loss_sum", torch.zeros((), dtype=torch.float64))  # sum of loss x batch size
        self.register_buffer("correct", torch.zeros((), dtype=torch.int64))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.window = window
        self.unchecked: dict[int, torch.Tensor] = {}  # step -> its loss, since the last check

    def reset(self) -> None:
        for t in (self.loss_sum, self.correct, self.seen):
            t.zero_()

    def update(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, step: int) -> None:
        loss = loss.detach()
        self.loss_sum.add_(loss, alpha=labels.numel())
        self.correct.add_((logits.argmax(1) == labels).sum())  # argmax: no gradient, nothing to detach
        self.seen.add_(labels.numel())
        if len(self.unchecked) >= self.window:  # full: checked before it holds more
            self.check()
        self.unchecked[step] = loss

    def check(self) -> None:
        """Raise NonFiniteLoss naming the first step since the last check whose loss was NaN or infinite."""
        if not self.unchecked:
            return
        steps, losses = list(self.unchecked), torch.stack(list(self.unchecked.values()))
        self.unchecked.clear()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            at = int(bad[0, 0])
            raise NonFiniteLoss(
                f"the training loss is {float(losses[at])} at step {steps[at]}; lower optimizer.lr or check the data"
            )

    def compute(self, reduce=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss, accuracy) of the epoch so far; reduce: a function summing a tensor over DDP ranks."""
        sums = torch.stack([self.loss_sum, self.correct.double(), self.seen.double()])
        if reduce is not None:
            sums = reduce(sums)
        seen = sums[2].clamp(min=1)
        return (sums[0] / seen).float(), (sums[1] / seen).float()


def from_legacy(state_dict: dict, prefix: str) -> None:
    """Turn the torchmetrics states of an older checkpoint into these totals' buffers, in place."""
    if LEGACY["loss"] not in state_dict:
        return
    old = {name: state_dict.pop(key) for name, key in LEGACY.items() if key in state_dict}
    state_dict[prefix + "loss_sum"] = old["loss"].double().reshape(())
    state_dict[prefix + "correct"] = old["tp"].sum().long()
    state_dict[prefix + "seen"] = (old["tp"] + old["fn"]).sum().long()
