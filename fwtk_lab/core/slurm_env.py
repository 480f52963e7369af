"""Where this process runs: under SLURM, in a submitit job; the signal submitit asked SLURM for.

submitit asks SLURM for `--signal=USR2@<signal_delay_s>`; SLURM may send it up to a minute early, so a
requeued job can be signalled while Python is still importing. Importing fwtk_lab records it then
(fwtk_lab.EARLY_SIGNALS) instead of dying of it; the run acts on it once its own handler is installed
(fwtk_lab.runs.preemption).
"""

from __future__ import annotations

import os
import signal

import fwtk_lab


def under_slurm() -> bool:
    return "SLURM_JOB_ID" in os.environ


def under_submitit() -> bool:
    """True inside a job that submitit's SLURM executor started (`python -m submitit.core._submit`)."""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and under_slurm()


def time_limit_signal() -> int | None:
    """The signal submitit asked SLURM to send before the time limit (SIGUSR2 unless
    SUBMITIT_PREEMPT_SIGNAL says otherwise); None outside a submitit job."""
    if not under_submitit():
        return None
    sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    return int(sig) if isinstance(sig, signal.Signals) else None


def take_early_signal() -> bool:
    """True (once) when the time-limit signal came before the run's own handler was installed."""
    came = bool(fwtk_lab.EARLY_SIGNALS)
    fwtk_lab.EARLY_SIGNALS.clear()
    return came
