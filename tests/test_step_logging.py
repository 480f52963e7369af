"""What a logging step writes, and what the other steps do not do: the step loss goes to the loggers and the bar
once and is not read back at later steps; TensorBoard gets a step's scalars as one event at the flush; the
training data module maps the image file's pages before the first epoch; preemption checks each step only
once a signal has come."""

from __future__ import annotations

import os
import resource
import signal
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import compose_train
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from test_per_step import Logged

from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.data.store import open_store
from fwtk_lab.runs.preemption import Preemption
from fwtk_lab.training.module import FontClassifier
from fwtk_lab.training.tensorboard import TensorBoard


class HostReads(pl.Callback):
    """Counts Tensor.item() calls outside torch.optim (Adam reads its CPU step counter) from one training batch's
    start to the next's: what Lightning does after a batch's hooks (the bar's metrics) is counted too."""

    def __init__(self):
        self.per_step: list[tuple[bool, int]] = []  # (logging step, reads)
        self.original = torch.Tensor.item
        self.count = 0
        self.logging = False

    def on_train_start(self, trainer, pl_module):
        counter = self

        def item(tensor):
            if "torch/optim" not in sys._getframe(1).f_code.co_filename:
                counter.count += 1
            return counter.original(tensor)

        torch.Tensor.item = item

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx > 0:
            self.per_step.append((self.logging, self.count))
        self.count, self.logging = 0, trainer._logger_connector.should_update_logs

    def on_train_end(self, trainer, pl_module):
        torch.Tensor.item = self.original


class Losses(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def test_step_loss_goes_to_loggers_and_bar_on_logging_steps_and_is_not_read_back(tmp_path, data_dir):
    cfg = compose_train(["model=logreg", f"paths.data_dir={data_dir}"], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    module = FontClassifier(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
    logger, reads, losses = Logged(tmp_path), HostReads(), Losses()
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=4,
        max_steps=13,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[reads, losses],
        default_root_dir=tmp_path,
    )
    try:
        trainer.fit(module, datamodule=dm)
    finally:
        torch.Tensor.item = reads.original
    logged = [(step, m["train/loss_step"]) for step, m in logger.seen if "train/loss_step" in m]
    assert [step for step, _ in logged] == [3, 7, 11]  # steps 3, 7, 11 from 0 (log_every_n_steps=4)
    assert [v for _, v in logged] == [pytest.approx(losses.losses[s], abs=0) for s in (3, 7, 11)]
    assert trainer.progress_bar_metrics["train/loss_step"] == logged[-1][1]
    other = [n for logging, n in reads.per_step if not logging]
    assert len(other) >= 8 and sum(other) == 0, reads.per_step  # self.log had the bar read it every step


def events_with(root, tag: str) -> list:
    """The events under root that hold a value of `tag`."""
    files = sorted(root.rglob("events.out.tfevents.*"))
    return [e for f in files for e in EventFileLoader(str(f)).Load() if any(v.tag == tag for v in e.summary.value)]


def test_tensorboard_writes_each_steps_scalars_as_one_event_at_the_flush(tmp_path):
    tb = TensorBoard(save_dir=str(tmp_path), name="tb", version="", save_every_s=3600)
    tb.log_metrics({"train/loss_step": 0.5, "epoch": 0}, step=3)
    tb.log_metrics({"train/samples": torch.tensor(12)}, step=3)  # a second call at the same step
    tb.log_metrics({"train/loss_step": 0.25, "epoch": 1}, step=7)
    tb.log_metrics({"pair": {"a": 1.0, "b": 2.0}}, step=7)  # a dict: Lightning's add_scalars
    tb.save()  # what Lightning calls after each logging step: within save_every_s no scalar is written
    assert events_with(tmp_path / "tb", "train/loss_step") == []
    tb.flush()  # before each checkpoint: the scalars, and Lightning's save (hparams.yaml)
    assert (tmp_path / "tb" / "hparams.yaml").is_file()
    events = events_with(tmp_path / "tb", "train/loss_step")
    assert [(e.step, sorted(v.tag for v in e.summary.value)) for e in events] == [
        (3, ["epoch", "train/loss_step", "train/samples"]),
        (7, ["epoch", "train/loss_step"]),
    ]
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [(s.step, s.value) for s in acc.Scalars("train/loss_step")] == [(3, 0.5), (7, 0.25)]
    assert [(s.step, s.value) for s in acc.Scalars("train/samples")] == [(3, 12.0)]
    assert any("pair" in str(p) for p in (tmp_path / "tb").iterdir())  # add_scalars' own run directory
    tb.log_metrics({"test/acc": 0.75}, step=9)
    tb.finalize("success")  # the end of a run writes what is kept
    acc.Reload()
    assert [(s.step, s.value) for s in acc.Scalars("test/acc")] == [(9, 0.75)]
    with pytest.raises(ValueError, match="train/bad"):
        tb.log_metrics({"train/bad": "high"}, step=10)


def faults() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


def faults_taking(images: np.ndarray, rows: np.ndarray, out: np.ndarray) -> int:
    before = faults()
    np.take(images, rows, axis=0, out=out)
    return faults() - before


def test_mapped_pages_take_no_page_fault_in_a_first_pass(tiny_store, monkeypatch):
    root = tiny_store.root
    rows = np.arange(0, len(tiny_store.images), 3)
    out = np.ones((len(rows), *tiny_store.images.shape[1:]), dtype=np.uint8)  # touched: its pages exist
    cold = open_store(root)
    assert faults_taking(cold.images, rows, out) >= 4  # a fresh memory map faults as it is read
    mapped = open_store(root)
    assert mapped.map_pages()
    assert faults_taking(mapped.images, rows, out) <= 1
    np.testing.assert_array_equal(out, np.asarray(cold.images)[rows])
    small = open_store(root)
    monkeypatch.setattr(os, "sysconf", lambda name: 16)  # a machine of 256 bytes: the file is left to the faults
    assert not small.map_pages()


def test_preemptions_per_step_check_is_off_until_a_signal_comes():
    p = Preemption(["SIGUSR1"])
    old = signal.getsignal(signal.SIGUSR1)
    try:
        p.on_train_start(SimpleNamespace(world_size=1), None)
        assert p.on_train_batch_end is None  # Lightning skips a None hook
        os.kill(os.getpid(), signal.SIGUSR1)  # in training: recorded, acted on at the step's end
        assert p.received == signal.SIGUSR1 and callable(p.on_train_batch_end)
    finally:
        signal.signal(signal.SIGUSR1, old)
    ddp = Preemption(["SIGUSR1"])
    ddp.install = lambda: None
    ddp.on_train_start(SimpleNamespace(world_size=2), None)
    assert callable(ddp.on_train_batch_end)  # under DDP every rank takes part in the decision every step
