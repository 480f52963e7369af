"""TrainTotals: the training loss and accuracy summed on the device match torchmetrics; a non-finite loss is
named at its first step; checkpoints written before it convert."""

from __future__ import annotations

import pytest
import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from fwtk_lab.training.totals import NonFiniteLoss, TrainTotals, from_legacy


def batches(n: int = 7, classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        size = 16 if i < n - 1 else 5  # a last, smaller batch
        logits = torch.randn(size, classes, generator=g)
        labels = torch.randint(0, classes, (size,), generator=g)
        yield torch.nn.functional.cross_entropy(logits, labels), logits, labels


def test_totals_match_torchmetrics():
    totals, mean, acc = TrainTotals(), MeanMetric(), MulticlassAccuracy(5, average="micro")
    for step, (loss, logits, labels) in enumerate(batches()):
        totals.update(loss, logits, labels, step)
        mean.update(loss, weight=labels.numel())
        acc.update(logits, labels)
    loss, accuracy = totals.compute()
    assert loss.item() == pytest.approx(mean.compute().item(), rel=1e-6)
    assert accuracy.item() == pytest.approx(acc.compute().item(), abs=0)
    doubled = totals.compute(lambda t: t * 2)  # what a sum over two equal ranks gives: the same means
    assert torch.allclose(doubled[0], loss) and torch.equal(doubled[1], accuracy)
    totals.reset()
    assert totals.seen.item() == 0 and totals.correct.item() == 0 and totals.loss_sum.item() == 0


def test_first_non_finite_step_is_named_at_the_check():
    totals = TrainTotals(window=8)
    data = list(batches(20))
    for step, (loss, logits, labels) in enumerate(data[:5]):
        totals.update(loss, logits, labels, step)
    totals.check()  # all finite: nothing raised
    for step, (loss, logits, labels) in enumerate(data[5:], start=5):
        totals.update(torch.tensor(float("nan")) if step in (6, 7) else loss, logits, labels, step)
        if step == 7:
            break
    with pytest.raises(NonFiniteLoss, match=r"is nan at step 6;"):
        totals.check()
    totals.check()  # those steps were reported: a new check looks only at later ones


def test_a_full_window_is_checked_before_it_is_overwritten():
    totals = TrainTotals(window=4)
    loss, logits, labels = next(batches())
    totals.update(torch.tensor(float("inf")), logits, labels, 0)
    for step in range(1, 4):
        totals.update(loss, logits, labels, step)
    with pytest.raises(NonFiniteLoss, match="is inf at step 0"):
        totals.update(loss, logits, labels, 4)  # would overwrite step 0's loss


def test_checkpoint_of_torchmetrics_states_converts():
    mean, acc = MeanMetric(), MulticlassAccuracy(5, average="micro")
    for loss, logits, labels in batches():
        mean.update(loss, weight=labels.numel())
        acc.update(logits, labels)
    sd = {"encoder.w": torch.ones(1)}
    for m in (mean, acc):
        m.persistent(True)  # as FontClassifier had them: metric states in checkpoints
    sd.update({f"losses.TRAIN.{k}": v for k, v in mean.state_dict().items()})
    sd.update({f"metrics.TRAIN.acc.{k}": v for k, v in acc.state_dict().items()})
    from_legacy(sd, "train_totals.")
    assert sorted(sd) == ["encoder.w", "train_totals.correct", "train_totals.loss_sum", "train_totals.seen"]
    totals = TrainTotals()
    totals.load_state_dict({k.removeprefix("train_totals."): v for k, v in sd.items() if k.startswith("train_")})
    loss, accuracy = totals.compute()
    assert loss.item() == pytest.approx(mean.compute().item(), rel=1e-6)
    assert accuracy.item() == pytest.approx(acc.compute().item(), abs=1e-7)


def test_font_classifier_loads_a_checkpoint_that_held_metric_states(tmp_path):
    """Checkpoints before TrainTotals held torchmetrics states (training and evaluation): they load strictly."""
    from conftest import compose_train
    from omegaconf import OmegaConf

    from fwtk_lab.training.module import FontClassifier

    cfg = OmegaConf.to_container(compose_train(["model=cnn_rnn_small"], tmp_path), resolve=True)
    model = FontClassifier(cfg, ["a", "b", "c"], (16, 64))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("train_totals.")}
    state |= {
        "losses.TRAIN.mean_value": torch.tensor(6.0),  # 4 images, mean loss 1.5
        "losses.TRAIN.weight": torch.tensor(4.0),
        "metrics.TRAIN.acc.tp": torch.tensor([3]),
        "metrics.TRAIN.acc.fp": torch.tensor([1]),
        "metrics.TRAIN.acc.tn": torch.tensor([7]),
        "metrics.TRAIN.acc.fn": torch.tensor([1]),
        "metrics.VAL.acc.tp": torch.tensor([2]),
        "losses.TEST.weight": torch.tensor(3.0),
        "per_font.VAL.tp": torch.zeros(3, dtype=torch.long),
        "confusion.confmat": torch.zeros(3, 3, dtype=torch.long),
        "test_nll.sum_value": torch.tensor(0.0, dtype=torch.float64),
    }
    checkpoint = {"state_dict": state}
    model.on_load_checkpoint(checkpoint)
    model.load_state_dict(checkpoint["state_dict"])  # strict: every key known, none missing
    loss, acc = model.train_totals.compute()
    assert loss.item() == pytest.approx(1.5) and acc.item() == pytest.approx(0.75)
