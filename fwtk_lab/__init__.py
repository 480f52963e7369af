"""fwtk_lab: font recognition experiments on rendered lines of Shakespeare (Hydra + PyTorch Lightning)."""

import os
import signal
import threading

# OpenMP threads that spin while idle make torch ops on a busy 2-core machine up to 100x slower:
# let them sleep instead. Set before torch loads its OpenMP runtime; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

EARLY_SIGNALS: list[int] = []  # SLURM's signals that came before the run's handler (core.slurm_env)


def record_early_signal(signum: int, frame) -> None:
    EARLY_SIGNALS.append(signum)


def _guard_time_limit_signal() -> None:
    """In a submitit job, SLURM's time-limit signal (SIGUSR2) may come while torch is still importing, before
    any handler is in place, and kill the job (exit 140, FAILED). Importing fwtk_lab (the first of ours that
    a submitit job unpickles) records it instead, until a real handler replaces this one."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or "SLURM_JOB_ID" not in os.environ:
        return
    sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    if isinstance(sig, signal.Signals) and threading.current_thread() is threading.main_thread():
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, record_early_signal)


_guard_time_limit_signal()
