"""Lightning callbacks of our own: the figures of the series, drawn into TensorBoard after the test."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ThroughputMonitor
from pytorch_lightning.loggers import TensorBoardLogger

from fwtk_lab.data.datamodule import BatchIndexed
from fwtk_lab.training import figures


def batch_size(batch) -> int:
    """Samples in a (images, labels) batch, for ThroughputMonitor."""
    return int(batch[1].shape[0])


class Throughput(ThroughputMonitor):
    """Lightning's ThroughputMonitor for (images, labels) batches: train/samples_per_sec and batches/s.

    Its batch_size_fn is given here, as a plain function: built from the config with `_partial_: true`
    it is a Hydra wrapper that checks Hydra's target policy on every call (170 us, every step).
    """

    def __init__(self, window_size: int = 100, **kwargs):
        super().__init__(batch_size_fn=batch_size, window_size=window_size, **kwargs)


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
