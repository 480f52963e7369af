"""What runs every training step, made cheap: runs/trainer.skip_unused_hooks (Lightning still skips a per-batch
hook set to None; every hook a callback overrides still runs) and the Throughput monitor updated on logging steps."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fwtk_lab.runs.trainer import PER_BATCH_HOOKS, skip_unused_hooks
from fwtk_lab.training.callbacks import Throughput


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.w(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Counts(pl.Callback):
    """Overrides two per-batch hooks (and so keeps them); the others are Callback's no-ops."""

    def __init__(self):
        self.calls = {"on_train_batch_end": 0, "on_before_backward": 0}

    def on_train_batch_end(self, *args):
        self.calls["on_train_batch_end"] += 1

    def on_before_backward(self, *args):
        self.calls["on_before_backward"] += 1


def test_skipped_hooks_are_none_and_lightning_skips_them(tmp_path):
    counts, plain = Counts(), pl.Callback()
    skip_unused_hooks([counts, plain])
    assert all(getattr(plain, hook) is None for hook in PER_BATCH_HOOKS)
    assert callable(counts.on_train_batch_end) and callable(counts.on_before_backward)
    assert counts.on_train_batch_start is None and counts.on_after_backward is None
    data = DataLoader(TensorDataset(torch.randn(12, 2)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[counts, plain],
        default_root_dir=tmp_path,
    )
    trainer.fit(Tiny(), data)  # a None hook called would raise TypeError
    assert counts.calls == {"on_train_batch_end": 6, "on_before_backward": 6}
    assert trainer.global_step == 6


class Logged(pl.loggers.CSVLogger):
    """Keeps every logged dict (step, metrics)."""

    def __init__(self, root):
        super().__init__(root)
        self.seen: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None):
        self.seen.append((step, dict(metrics)))
        super().log_metrics(metrics, step)


def test_throughput_counts_every_batch_but_updates_on_logging_steps(tmp_path):
    """12 batches of 3 (36 rows), logging every 4 steps (steps 3, 7, 11 from 0), window 2: totals at each
    logging step, a rate over the 4 batches before from the second on; validation (batches of 5) in between."""
    logger = Logged(tmp_path)
    data = DataLoader(TensorDataset(torch.randn(36, 2), torch.zeros(36)), batch_size=3)
    val = DataLoader(TensorDataset(torch.randn(10, 2), torch.zeros(10)), batch_size=5)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=4,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Throughput(window_size=2)],
        default_root_dir=tmp_path,
    )
    trainer.fit(Tiny(), data, val)
    logged = [(step, m) for step, m in logger.seen if "train/samples" in m]
    assert [(step, m["train/batches"], m["train/samples"]) for step, m in logged] == [
        (3, 4, 12),
        (7, 8, 24),
        (11, 12, 36),
    ]
    rates = [m for _, m in logged if "train/device/samples_per_sec" in m]
    assert len(rates) == 2  # window 2: from the second logging step on
    for m in rates:
        assert m["train/device/samples_per_sec"] == pytest.approx(3 * m["train/device/batches_per_sec"])


def test_best_checkpoint_skips_its_batch_hook_only_when_unused_and_keeps_lightnings_state_key(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    from fwtk_lab.training.callbacks import BestCheckpoint

    ours = BestCheckpoint(dirpath=tmp_path, monitor="val/acc", mode="max", every_n_epochs=1)
    theirs = ModelCheckpoint(dirpath=tmp_path, monitor="val/acc", mode="max", every_n_epochs=1)
    assert ours.on_train_batch_end is None and ours.state_key == theirs.state_key
    stepping = BestCheckpoint(dirpath=tmp_path, monitor="val/acc", every_n_train_steps=5)
    assert callable(stepping.on_train_batch_end)
