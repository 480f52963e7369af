"""A Lightning callback for the start-up benchmark: writes the wall-clock time of the first training step."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl


class FirstStep(pl.Callback):
    """`+callbacks.first_step._target_=bench_callbacks.FirstStep +callbacks.first_step.path=FILE`."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.path.exists():
            self.path.write_text(repr(time.time()))
