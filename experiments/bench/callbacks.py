"""Lightning callbacks of the benchmarks: a timed window of training steps, the test loop's time, the first step."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch

BATCH = 128


class Window(pl.Callback):
    """Times `steps` training batches after `warm` ones (samples/s in `rate`), then stops the fit."""

    def __init__(self, warm: int, steps: int, batch: int = BATCH):
        self.warm, self.steps, self.batch, self.t0, self.rate = warm, steps, batch, 0.0, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warm - 1:
            _wait_for(pl_module.device)
            self.t0 = time.perf_counter()
        elif batch_idx == self.warm + self.steps - 1:
            _wait_for(pl_module.device)
            self.rate = self.steps * self.batch / (time.perf_counter() - self.t0)
            trainer.should_stop = True


def _wait_for(device: torch.device) -> None:
    """A timing on a GPU ends with its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


class SyncCount(pl.Callback):
    """Host-device synchronisations during `steps` training steps after `warm` (CUDA's sync debug mode, its
    warnings counted), apart for the logging steps (every trainer.log_every_n_steps) and the others."""

    def __init__(self, warm: int, steps: int):
        self.warm, self.steps = warm, steps
        self.counts = {"logging": [0, 0], "other": [0, 0]}  # kind of step -> [syncs, steps]
        self._seen: list | None = None
        self._catch = None
        self._kind = "other"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._kind = "logging" if trainer._logger_connector.should_update_logs else "other"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._catch is not None:  # a counted step ends here (from the previous step's end: the fetch included)
            torch.cuda.set_sync_debug_mode(0)
            self._catch.__exit__(None, None, None)
            syncs = sum("synchroniz" in str(w.message) for w in self._seen or [])
            self.counts[self._kind][0] += syncs
            self.counts[self._kind][1] += 1
            self._catch = None
        if self.warm - 1 <= batch_idx < self.warm + self.steps - 1 and pl_module.device.type == "cuda":
            self._catch = warnings.catch_warnings(record=True)
            self._seen = self._catch.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")


class EpochTimer(pl.Callback):
    """Seconds of the test epoch loop (first batch to last; not the figures drawn after)."""

    seconds = 0.0

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.t0 = time.perf_counter()

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.t0


class FirstStep(pl.Callback):
    """`+callbacks.first_step._target_=experiments.bench.callbacks.FirstStep +callbacks.first_step.path=FILE`."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.path.exists():
            self.path.write_text(repr(time.time()))
