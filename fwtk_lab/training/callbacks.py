"""Lightning callbacks of our own: Lightning's throughput monitor and rich progress bar at no cost per step, and
the figures of the series, drawn into TensorBoard after the test."""

from __future__ import annotations

import time

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar, ThroughputMonitor
from pytorch_lightning.loggers import TensorBoardLogger

from fwtk_lab.data.datamodule import BatchIndexed
from fwtk_lab.training import figures


def batch_size(batch) -> int:
    """Samples in a (images, labels) batch, for ThroughputMonitor."""
    return int(batch[1].shape[0])


class Throughput(ThroughputMonitor):
    """Lightning's ThroughputMonitor for (images, labels) batches: train/samples_per_sec and batches/s.

    Lightning's updates its running totals after every training batch (0.1 ms here, and on a GPU a device
    synchronisation each batch). This one counts the images of each batch and updates the totals on the
    logging steps only (every trainer.log_every_n_steps), so its window is counted in logging steps:
    window_size=2 gives the rate over the last log_every_n_steps batches.
    """

    def __init__(self, window_size: int = 2, **kwargs):
        super().__init__(batch_size_fn=self._images, window_size=window_size, **kwargs)
        self._pending_images = self._pending_batches = 0
        self._training_update = False

    def _images(self, batch) -> int:
        """A training update's images since the last one; an evaluation batch's (updated every batch) its own."""
        if not self._training_update:
            return batch_size(batch)
        n, self._pending_images = self._pending_images, 0
        return n

    def on_train_start(self, trainer: pl.Trainer, *args) -> None:
        self._pending_images = self._pending_batches = 0
        super().on_train_start(trainer, *args)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, *args) -> None:
        self._pending_images += batch_size(batch)
        self._pending_batches += 1
        if trainer._logger_connector.should_update_logs:  # Lightning's own test of a logging step
            if trainer.is_global_zero:  # the monitor itself runs on rank 0 only; it counts 1 batch an update
                self._batches[trainer.state.stage] += self._pending_batches - 1
            self._pending_batches, self._training_update = 0, True
            try:
                super().on_train_batch_end(trainer, pl_module, outputs, batch, *args)
            finally:
                self._training_update = False


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint. When it saves only after validations (no every_n_train_steps, no
    train_time_interval), its per-batch hook, which then only finds it has nothing to do (5-8 us a step), is
    set to None, which Lightning skips (as runs/trainer.skip_unused_hooks does)."""

    def __init__(self, *args, every_n_train_steps: int | None = None, train_time_interval=None, **kwargs):
        super().__init__(
            *args, every_n_train_steps=every_n_train_steps, train_time_interval=train_time_interval, **kwargs
        )
        if not every_n_train_steps and train_time_interval is None:
            self.on_train_batch_end = None

    @property
    def state_key(self) -> str:
        """ModelCheckpoint's own key, so that the state of runs checkpointed with Lightning's class restores here."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)


class RichBar(RichProgressBar):
    """Lightning's RichProgressBar, redrawn every `refresh_rate` training batches and at most every
    `min_seconds`. Lightning's own gathers the logged metrics and redraws after every batch whatever its
    refresh rate (0.08 ms a redraw here); the eye does not see more than ten a second."""

    def __init__(self, *args, min_seconds: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_seconds = min_seconds
        self._drawn = 0.0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        done = batch_idx + 1
        last = done >= self.total_train_batches
        if last or (done % max(1, self.refresh_rate) == 0 and time.monotonic() - self._drawn >= self.min_seconds):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            self._drawn = time.monotonic()


def tensorboard(trainer: pl.Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


class TestFigures(pl.Callback):
    """After testing: confusion matrix, test images with true/predicted font, first-layer weights, sample sheet."""

    def __init__(self, predictions: int = 16):
        self.predictions = predictions

    def on_test_end(self, trainer: pl.Trainer, pl_module) -> None:
        tb = tensorboard(trainer)
        if tb is None:
            return
        matrix = pl_module.confusion_matrix().numpy()  # every rank: computing it is a collective under DDP
        if not trainer.is_global_zero:
            return
        step = trainer.global_step
        classes = pl_module.classes
        tb.experiment.add_figure("test/confusion_matrix", figures.confusion(matrix, classes), step)
        dm = trainer.datamodule
        if dm is not None and self.predictions > 0:
            rows = np.sort(dm.rows["test"][np.linspace(0, len(dm.rows["test"]) - 1, self.predictions).astype(int)])
            images, labels = BatchIndexed(dm.store, rows)[np.arange(len(rows))]
            x, _ = dm.on_after_batch_transfer((images.to(pl_module.device), labels), 0)
            with torch.no_grad():
                pred = pl_module(x).argmax(1).cpu().numpy()
            true = labels.numpy()
            tb.experiment.add_figure("test/predictions", figures.predictions(images.numpy(), true, pred, classes), step)
            sheet = figures.sample_sheet(
                dm.store.images,
                dm.store.labels,
                dm.store.phrase_ids,
                classes,
                phrase=int(dm.store.phrase_ids[rows[0]]),
                phrases=dm.store.phrases(),
            )
            tb.experiment.add_figure("data/sample_sheet", sheet, step)
        w = pl_module.encoder.first_layer_weights() if hasattr(pl_module.encoder, "first_layer_weights") else None
        if w is not None:
            tb.experiment.add_figure(
                "model/first_layer_weights", figures.weights(w.float().numpy(), type(pl_module.encoder).__name__), step
            )
        tb.experiment.flush()
