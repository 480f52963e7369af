"""Preemption: on SIGTERM, SIGINT or SIGUSR1 (configurable) finish the current training step, write a
checkpoint and exit with EXIT_INTERRUPTED, a code a scheduler can requeue on. Rerunning the same command
continues the run. A second signal, or one outside the training loop (dataset build, testing), stops at once
(in a DDP job the time-limit signal outside training stops rank 0 only, which requeues or ends the whole job);
a first signal once the run is tested lets it write its results and end.

In a submitit job SLURM's time-limit signal (SIGUSR2) is caught too, and the job is requeued through
submitit (fwtk_lab.runs.slurm). Under SLURM a repeat of the signal already received is ignored: SLURM
delivers SIGTERM twice (slurmstepd and srun), and its SIGKILL follows anyway.
"""

from __future__ import annotations

import signal
import threading

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from fwtk_lab.core import slurm_env
from fwtk_lab.runs import identity
from fwtk_lab.runs.latest_checkpoint import LatestCheckpoint

EXIT_INTERRUPTED = 75  # sysexits EX_TEMPFAIL: "try again later"


class Interrupted(BaseException):
    """A signal stopped the run; `checkpoint` is where its state was saved (None: nothing new was saved).

    A BaseException, as KeyboardInterrupt: raised from a signal handler it can surface in any code, and
    `except Exception` there must not take it for that code's own failure (Hydra's instantiate turned it
    into an InstantiationException, a checkpoint being loaded would have been set aside as corrupt).
    """

    exit_code = EXIT_INTERRUPTED

    def __init__(self, signum: int, step: int | None = None, checkpoint: str | None = None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f"at step {step}, checkpoint {checkpoint}" if checkpoint else "before a new checkpoint could be written"
        super().__init__(f"interrupted by {name} {where}; rerun the same command to continue")


def signal_numbers(names: list[str]) -> list[int]:
    out = []
    for name in names:
        sig = getattr(signal, str(name).upper(), None)
        if not isinstance(sig, signal.Signals) or sig in (signal.SIGKILL, signal.SIGSTOP):
            raise ValueError(
                f"preemption.signals: {name!r} is not a signal that can be caught; e.g. SIGTERM, SIGINT, SIGUSR1"
            )
        out.append(int(sig))
    return out


class Preemption(Checkpoint):
    """Catches the configured signals; inside training, stops cleanly after the current step with a checkpoint.

    A `Checkpoint` (it writes one) so that Lightning runs it last, after the best-model and latest checkpoints
    of the same step: stopping never skips them.
    """

    def __init__(self, signals: list[str] = ("SIGTERM", "SIGINT", "SIGUSR1")):
        self.signals = signal_numbers(list(signals))
        self.time_limit = slurm_env.time_limit_signal()  # submitit's SIGUSR2: the time limit is near
        if self.time_limit is not None and self.time_limit not in self.signals:
            self.signals.append(self.time_limit)
        self.received: int | None = None
        self.training = False
        self.tested = False  # the run is tested: what is left (writing its results) takes a moment
        self.under_slurm = slurm_env.under_slurm()
        self.rank0 = identity.env_rank_zero()

    def install(self) -> None:
        """Take over the signals (main thread only; Lightning's own SIGTERM handling is replaced)."""
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                signal.signal(sig, self._handle)
            early = slurm_env.take_early_signal()
            if early in self.signals:
                self._handle(early, None)  # it came during the job's start: act on it now

    def _handle(self, signum: int, frame) -> None:
        if self.under_slurm and signum == self.received:
            return  # SLURM's repeat of the same signal
        first = self.received is None
        self.received = signum
        vars(self).pop("on_train_batch_end", None)  # the per-step check, if it was off, stops at this step's end
        if first and self.training:
            return  # every rank stops at the end of the same step
        if first and self.tested:  # the run ends as it is; a next run in this process (a sweep's) stops at its start
            slurm_env.EARLY_SIGNALS.append(signum)
            return
        if first and signum == self.time_limit and not self.rank0:
            # outside training the DDP job's rank 0 decides alone: it requeues the job (which ends this
            # rank too) or, done, ends it; a rank > 0 stopping by itself failed a job that rank 0 had finished
            return
        raise Interrupted(signum)

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        self.training = True
        if trainer.world_size == 1 and self.received is None:
            self.on_train_batch_end = None  # Lightning skips it (~3 us a step) until _handle puts it back
        self.install()  # after Lightning registered its handlers at the start of fit

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self.training = False
        vars(self).pop("on_train_batch_end", None)

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        self.training = False

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.received is None and trainer.world_size == 1:
            return  # nothing asked (under DDP every rank takes part in the decision, every step)
        if not _last_batch(trainer):  # the epoch's last batch: stop at its end, after validation
            self._stop_if_asked(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._stop_if_asked(trainer)

    def _stop_if_asked(self, trainer: pl.Trainer) -> None:
        asked = self.received is not None
        if trainer.world_size > 1:  # every rank stops at the same step
            asked = trainer.strategy.reduce_boolean_decision(asked, all=False)
        if not asked:
            return
        latest = next((cb for cb in trainer.callbacks if isinstance(cb, LatestCheckpoint)), None)
        saved = latest.save(trainer, wait=True) if latest is not None else None
        path = str(saved) if saved else None
        self.training = False
        raise Interrupted(self.received or signal.SIGTERM, trainer.global_step, path)


def _last_batch(trainer: pl.Trainer) -> bool:
    """True after the last training batch of an epoch, before the epoch's end.

    A checkpoint written there resumes, but Lightning 2.6 then does not count the next epoch as started
    (fit_loop.reset, "restarted_on_train_batch_end and is_last_batch"), so that a second resumption in
    that epoch repeats it whole (20 steps became 29). The epoch-end checkpoint does not have that problem.
    """
    loop = trainer.fit_loop.epoch_loop
    return bool(loop.batch_progress.is_last_batch or loop._num_ready_batches_reached())
