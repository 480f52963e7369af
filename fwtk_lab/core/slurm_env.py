"""Where this process runs: under SLURM, in a submitit job; the signal submitit asked SLURM for.

submitit asks SLURM for `--signal=USR2@<signal_delay_s>`; SLURM may send it up to a minute early, so a
requeued job can be signalled while Python is still importing. Importing fwtk_lab records it then
(EARLY_SIGNALS) instead of dying of it, and so does the job from its start (`hold_signals`, by the SLURM
launcher) in place of submitit's handlers; the run acts on the first recorded signal once its
own handler is installed (fwtk_lab.runs.preemption).
"""

from __future__ import annotations

import os
import signal
import threading

EARLY_SIGNALS: list[int] = []  # signals that came before a run's handler (SLURM's at start-up; one that came
# as the previous run of a local sweep ended: runs.preemption)


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


def record_early_signal(signum: int, frame) -> None:
    EARLY_SIGNALS.append(signum)


def hold_signals(sigterm: bool = True) -> None:
    """In a submitit job, record the time-limit signal (and SIGTERM) until the run installs its handler.

    Called by `import fwtk_lab` (the time-limit signal only, where nothing handles it yet) and as the job
    starts, by the SLURM launcher, in place of submitit's handlers: its time-limit handler requeues or
    raises from wherever the job is, and it ignores SIGTERM.
    """
    if not under_submitit() or threading.current_thread() is not threading.main_thread():
        return
    limit = time_limit_signal()
    if limit is not None and (sigterm or signal.getsignal(limit) == signal.SIG_DFL):
        signal.signal(limit, record_early_signal)
    if sigterm:
        signal.signal(signal.SIGTERM, record_early_signal)


def take_early_signal() -> int | None:
    """The first signal recorded before the run's own handler was installed (once), or None."""
    first = EARLY_SIGNALS[0] if EARLY_SIGNALS else None
    EARLY_SIGNALS.clear()
    return first
