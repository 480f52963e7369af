"""A callback for tests: SIGKILLs its own process at a chosen point, as a crash or an OOM killer would."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class KillAt(pl.Callback):
    """where: train (after training step `step`), val (first validation batch after `step`), test (first test batch)."""

    def __init__(self, where: str = "train", step: int = 1, sig: str = "SIGKILL"):
        self.where, self.step, self.sig = where, step, getattr(signal, sig)

    def _kill(self) -> None:
        os.kill(os.getpid(), self.sig)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.where == "train" and trainer.global_step == self.step:
            self._kill()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.where == "val" and not trainer.sanity_checking and trainer.global_step >= self.step:
            self._kill()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.where == "test":
            self._kill()


class SlowSteps(pl.Callback):
    """Sleeps after every training step, so that a test can send a signal mid-training.

    first_run_only: in a SLURM job's first run only; once SLURM requeued it (SLURM_RESTART_COUNT > 0), full speed.
    """

    def __init__(self, seconds: float = 0.2, first_run_only: bool = False):
        requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
        self.seconds = 0.0 if first_run_only and requeued else seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        import time

        time.sleep(self.seconds)


class Trace(pl.Callback):
    """Debug: prints step, epoch, a digest of the torch RNG state and of the batch at each training step."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        import torch

        print(
            f"TRACE step={trainer.global_step} epoch={trainer.current_epoch} idx={batch_idx} "
            f"rng={int(torch.get_rng_state().double().sum())} batch={int(batch[1].sum())}-{int(batch[0].double().sum())} "
            f"w={float(sum(p.double().sum() for p in pl_module.parameters())):.6f}",
            flush=True,
        )
