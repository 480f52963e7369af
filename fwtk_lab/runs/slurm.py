"""A run inside a SLURM job: who owns the signals, and what an interrupted submitit job does next.

fwtk_lab's Preemption callback owns the signals: Lightning's SLURMEnvironment gets `auto_requeue=False`
(it would otherwise save its own hpc checkpoint and `scontrol requeue` on SIGUSR1 and SIGTERM, a second
requeue beside submitit's). When a signal stopped the run (checkpoint written, invocation recorded):

- SLURM's time-limit signal in a submitit job (SIGUSR2): the job is requeued through submitit's checkpoint
  protocol (the launcher's `checkpoint()` resubmits the same Hydra job, which resumes), the invocation is
  recorded `requeued`, and the process exits without a result (the rerun writes it). Out of requeues
  (hydra.launcher.max_num_timeout), the job ends with a result that says so, and the sweep goes on.
- SIGTERM in a submitit job (preemption, `scontrol requeue`, `scancel`): SLURM decides whether the job
  comes back; the process exits 75 without a result, so that the launcher waits for the rerun.
- Anywhere else: exit 75 (EXIT_INTERRUPTED), as before.
"""

from __future__ import annotations

import logging
import os
import signal
import warnings
from pathlib import Path

from fwtk_lab.core import slurm_env
from fwtk_lab.runs import resume
from fwtk_lab.runs.preemption import Interrupted

log = logging.getLogger("fwtk_lab.slurm")

REQUEUED, EXIT, RESULT = "requeued", "exit", "result"  # what after_interrupt decided
# `srun` on PATH (a SLURM client machine, CI with the test cluster) but a run started without it: a local
# run, not a mistake (imported with the Trainer's builder: runs.trainer).
warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system but is not used")


def cluster_plugins() -> list:
    """The Trainer's cluster environment under SLURM: Lightning's, without its own auto-requeue."""
    if not slurm_env.under_slurm():
        return []
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def ranks_started_by_srun() -> bool:
    """True in a task that srun started: every DDP rank is such a task, Lightning starts no process."""
    return bool(cluster_plugins())


def ignore_late_signals() -> None:
    """No handler raises while the process exits: SLURM repeats SIGTERM, and a requeue sends one."""
    for sig in (signal.SIGTERM, slurm_env.time_limit_signal()):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)


def after_interrupt(e: Interrupted, run_dir: Path | None) -> str:
    """Requeue a submitit job stopped by the time-limit signal; say what the caller does next:
    REQUEUED (exit, no result), EXIT (exit 75, no result), RESULT (end the job with a result naming `e`)."""
    if not slurm_env.under_submitit():
        return EXIT
    ignore_late_signals()
    if e.signum != slurm_env.time_limit_signal():
        return EXIT  # SIGTERM: SLURM requeues (preemption, scontrol requeue) or cancels (scancel)
    why = requeue_submitit_job()
    if why:
        e.args = (f"{e.args[0]}; not requeued: {why}",)
        return RESULT
    e.args = (f"{e.args[0].split('; rerun')[0]}; the job is requeued and continues the run",)
    if run_dir is not None:
        mark_requeued(run_dir)
    return REQUEUED


def requeue_submitit_job() -> str:
    """submitit's time-out path (SignalHandler.checkpoint_and_try_requeue): one requeue fewer left, the
    launcher's checkpoint() as the next submission, `scontrol requeue`. Returns why not ('' when requeued)."""
    import submitit
    from submitit.core import utils

    env = submitit.JobEnvironment()
    if env.global_rank != 0:
        return ""  # rank 0 requeues the whole job
    paths = env.paths
    delayed = utils.DelayedSubmission.load(paths.submitted_pickle)
    countdown = delayed._timeout_countdown - 1
    if countdown < 0:
        return "timed out too many times (hydra.launcher.max_num_timeout); rerun the sweep to continue"
    if not hasattr(delayed.function, "checkpoint"):
        return "the submitted function is not checkpointable"
    following = delayed._checkpoint_function()
    if following is None:
        return "the submitted function's checkpoint() returned None"
    following.set_timeout(delayed._timeout_min, countdown)
    with utils.temporary_save_path(paths.submitted_pickle) as tmp:
        following.dump(tmp)
    env._requeue(countdown)
    log.info("requeued SLURM job %s (%d time-outs left)", env.job_id, countdown)
    return ""


def mark_requeued(run_dir: Path) -> None:
    """Record this process's invocation (recorded `interrupted`) as `requeued` in status.json."""
    status = resume.read_status(run_dir)
    invocations = status.get("invocations") or []
    if invocations and invocations[-1].get("pid") == os.getpid() and invocations[-1].get("outcome") == "interrupted":
        invocations[-1]["outcome"] = status["status"] = REQUEUED
        resume.write_status(run_dir, status)
