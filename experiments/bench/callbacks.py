"""Lightning callbacks of the benchmarks: a timed window of training steps, the test loop's time, the first step."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl

BATCH = 128


class Window(pl.Callback):
    """Times `steps` training batches after `warm` ones (samples/s in `rate`), then stops the fit."""

    def __init__(self, warm: int, steps: int, batch: int = BATCH):
        self.warm, self.steps, self.batch, self.t0, self.rate = warm, steps, batch, 0.0, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warm - 1:
            self.t0 = time.perf_counter()
        elif batch_idx == self.warm + self.steps - 1:
            self.rate = self.steps * self.batch / (time.perf_counter() - self.t0)
            trainer.should_stop = True


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
