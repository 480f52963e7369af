"""Checkpoints for resumption: the newest state every N steps, every M minutes and at every epoch end,
plus the random number generators, so that a resumed run continues exactly where it stopped.

The best-by-validation checkpoint is Lightning's own ModelCheckpoint (conf/callbacks/default.yaml);
Lightning cannot combine step, time and epoch triggers in one ModelCheckpoint, hence this callback.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint

from fwtk_lab.runs.checkpoint_io import BackgroundCheckpointIO
from fwtk_lab.training.tensorboard import TensorBoard

LATEST = "latest-step{step:08d}.ckpt"
LAST = "last.ckpt"
STEP_RE = re.compile(r"step(\d+)")
CLOCK_EVERY = 16  # under DDP the minutes trigger is read every this many steps (a broadcast: one decision)


def step_of(path: Path) -> int:
    """The global step in a checkpoint's file name (-1 when it has none, e.g. last.ckpt)."""
    m = STEP_RE.search(path.name)
    return int(m.group(1)) if m else -1


class LatestCheckpoint(Checkpoint):
    """Writes `latest-step<N>.ckpt` (the newest `keep` are kept) and `last.ckpt` (always the newest).

    A `Checkpoint` so that Lightning runs it after the other callbacks, in list order after the best-model
    ModelCheckpoint: an epoch-end state then already names that epoch's best file.
    """

    def __init__(
        self, dirpath: str, every_n_steps: int | None = 500, every_minutes: float | None = 10.0, keep: int = 2
    ):
        if keep < 1:
            raise ValueError(f"checkpoint.keep={keep} must be >= 1")
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps or None
        self.every_minutes = every_minutes or None
        self.keep = keep
        self._last_time = time.monotonic()
        self.saves = 0
        self.save_seconds = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_time = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        due = bool(self.every_n_steps and step % self.every_n_steps == 0)
        if self.every_minutes and not due and (trainer.world_size == 1 or step % CLOCK_EVERY == 0):
            late = time.monotonic() - self._last_time >= 60 * self.every_minutes
            due = late if trainer.world_size == 1 else bool(trainer.strategy.broadcast(late, src=0))
        if due:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        self.save(trainer)  # the epoch-end state replaces a step checkpoint of the same step

    def save(self, trainer: pl.Trainer, wait: bool = False) -> Path | None:
        """Save the trainer's whole state now (every rank calls this; rank 0 writes); not in fast_dev_run.

        Written by the checkpoint plugin, then linked as last.ckpt; the oldest files go once it is on disk.
        With checkpoint.background the state is copied now and a thread writes it (BackgroundCheckpointIO);
        wait: return once it is on disk.
        """
        if trainer.fast_dev_run:
            return None
        t0 = time.perf_counter()
        io = trainer.strategy.checkpoint_io
        for logger in trainer.loggers:  # TensorBoard's events up to this step are on disk before the checkpoint
            if not isinstance(logger, TensorBoard) or not trainer.is_global_zero:
                continue
            if isinstance(io, BackgroundCheckpointIO):
                io.queue(logger.flush)  # in the writing thread, before the checkpoint's write
            else:
                logger.flush()
        path = self.dirpath / LATEST.format(step=trainer.global_step)
        trainer.save_checkpoint(path, weights_only=False, storage_options={"also_as": self.dirpath / LAST})
        if trainer.is_global_zero:
            kept = sorted({*self.dirpath.glob("latest-step*.ckpt"), path}, key=step_of)
            for old in kept[: -self.keep]:
                trainer.strategy.remove_checkpoint(old)  # queued behind the write of `path`
        if wait:
            flush(trainer)
        trainer.strategy.barrier("latest_checkpoint")
        self._last_time = time.monotonic()
        self.saves += 1
        self.save_seconds += time.perf_counter() - t0
        return path


def flush(trainer: pl.Trainer) -> None:
    """Wait until the checkpoints saved so far are on disk."""
    io = trainer.strategy.checkpoint_io
    if isinstance(io, BackgroundCheckpointIO):
        io.flush()


class RNGState(pl.Callback):
    """Saves and restores the torch (CPU and CUDA), numpy and python generators with every checkpoint,
    one set per DDP rank (each rank draws its own dropout masks)."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        mine = rng_states()
        if torch.distributed.is_available() and torch.distributed.is_initialized() and trainer.world_size > 1:
            every: list = [None] * trainer.world_size
            torch.distributed.all_gather_object(every, mine)
        else:
            every = [mine]
        checkpoint["rng_states"] = every  # index = global rank

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        every = checkpoint.get("rng_states") or []
        if trainer.global_rank < len(every):
            set_rng_states(every[trainer.global_rank])


def rng_states() -> dict[str, Any]:
    """This process's generators, as tensors and plain values (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": python_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_states(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    version, internal, gauss = state["python"]
    if isinstance(internal, torch.Tensor):
        internal = internal.tolist()
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def python_state() -> tuple:
    """random.getstate() with its 625 numbers as one tensor: a checkpoint pickles one object, not 625 (0.2 ms)."""
    version, internal, gauss = random.getstate()
    return version, torch.tensor(internal, dtype=torch.int64), gauss
