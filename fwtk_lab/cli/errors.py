"""One clear line for bad input: the exit codes, and what a failed start or a failed sweep job leaves."""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Callable

from omegaconf.errors import OmegaConfBaseException

from fwtk_lab.core.errors import UserError
from fwtk_lab.core.files import atomic_write_json
from fwtk_lab.runs.sweep import in_multirun

log = logging.getLogger("fwtk_lab")

# Known, harmless library noise (we do not count FLOPs; a Lightning/torch pytree deprecation).
warnings.filterwarnings("ignore", message=".*flops_per_batch.*")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
# Epoch values are logged from torchmetrics' compute(), which already syncs across DDP ranks.
warnings.filterwarnings("ignore", message=".*It is recommended to use `self.log\\(.*sync_dist=True.*")
USER_ERRORS = (UserError, OmegaConfBaseException, ValueError, FileNotFoundError)  # exit 2, one line


def exit_code(e: BaseException) -> int | None:
    """The documented exit status for an exception (None: an unexpected crash, shown with its traceback).

    2 bad input; 3 training diverged (non-finite loss); 75 interrupted by a signal, checkpoint written;
    130 interrupted by Ctrl+C outside a run.
    """
    if isinstance(e, USER_ERRORS):
        return 2
    if isinstance(e, KeyboardInterrupt):
        return 130
    return getattr(e, "exit_code", None)


def friendly_errors(fn: Callable) -> Callable:
    """Bad input ends the program with one `error: ...` line on stderr and exit status 2 (no traceback).

    Inside a Hydra multirun a failed job is recorded (`error.json` in its directory, then the sweep
    summary) and the sweep goes on; only an interruption (exit 75) stops the sweep.
    HYDRA_FULL_ERROR=1 (Hydra's own switch) shows the traceback instead.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as e:
            code = exit_code(e)
            multirun = in_multirun()
            if code == 75 and _requeue_or_result(e) and multirun:  # a submitit job out of requeues: the sweep goes on
                print("error: " + " ".join(str(e).split()), file=sys.stderr, flush=True)
                record_job_error(e, code)
                return None
            if os.environ.get("HYDRA_FULL_ERROR") == "1" and not multirun:
                raise
            if code is None and not multirun:
                raise
            message = "error: " + " ".join(str(e).split())  # one line, whatever the library wrote
            print(message, file=sys.stderr, flush=True)
            if multirun and code not in (75, 130):
                record_job_error(e, 1 if code is None else code)
                return None
            if code == 2:
                remove_stub_run_dir()
            sys.exit(code)

    return wrapper


def _requeue_or_result(e: BaseException) -> bool:
    """An interrupted run under submitit: requeue it; True when the job must end with a result instead.

    Imported here, on the way out: fwtk_lab.runs loads Lightning, which a bad-input error need not wait for.
    """
    from fwtk_lab.runs import slurm

    return slurm.after_interrupt(e, _output_dir()) == slurm.RESULT


def _output_dir() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None


STUB_FILES = {".hydra", "run.lock", "config.yaml"}  # what a start that failed on bad input leaves behind


def remove_stub_run_dir() -> None:
    """Remove the run directory Hydra made for a start that failed on bad input, if it holds nothing else."""
    import shutil

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    logs = {f"{hc.job.name}.log"}
    if out.is_dir() and out.resolve() != Path.cwd().resolve() and {p.name for p in out.iterdir()} <= STUB_FILES | logs:
        shutil.rmtree(out, ignore_errors=True)


def record_job_error(e: BaseException, code: int) -> None:
    """Write error.json into this multirun job's directory (read by the sweep summary)."""
    import traceback

    from hydra.core.hydra_config import HydraConfig

    out = Path(HydraConfig.get().runtime.output_dir)
    atomic_write_json(
        out / "error.json",
        {"error": f"{type(e).__name__}: {e}", "exit_code": code, "traceback": "".join(traceback.format_exception(e))},
    )
    log.error("job failed (%s: %s); recorded in %s", type(e).__name__, e, out / "error.json")
