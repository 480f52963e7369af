"""Automatic resumption: which checkpoint a run continues from, whether it is finished, and the run lock."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fwtk_lab.core.errors import ResumeError
from fwtk_lab.core.files import atomic_write_json
from fwtk_lab.runs import checkpoint_file, identity
from fwtk_lab.runs.latest_checkpoint import LAST, step_of

log = logging.getLogger("fwtk_lab.resume")
MODES = ("auto", "never", "must")
STATUS = "status.json"


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold `run.lock` for the whole run; a second process is refused, naming the holder's pid.

    flock is released by the kernel when its holder dies, so the lock of a killed run is taken over.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ResumeError(
                f"run directory {run_dir} is in use by process {holder}; wait for it, stop it, or "
                f"start a separate run with resume=never"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def candidates(ckpt_dir: Path) -> list[Path]:
    """Every checkpoint of a run, newest step first; last.ckpt (a link to the newest) at the end."""
    if not ckpt_dir.is_dir():
        return []
    files = [p for p in ckpt_dir.glob("*.ckpt") if p.name != LAST]
    ordered = sorted(files, key=lambda p: (step_of(p), p.name.startswith("latest")), reverse=True)
    return ordered + ([ckpt_dir / LAST] if (ckpt_dir / LAST).is_file() else [])


def newest_good(ckpt_dir: Path) -> tuple[Path | None, dict | None]:
    """The newest checkpoint that loads (and its contents); unreadable ones are reported and set aside."""
    for path in candidates(ckpt_dir):
        try:
            return path, checkpoint_file.load(path)
        except checkpoint_file.CheckpointError as e:
            moved = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, moved)
            log.warning("%s; moved it to %s and trying the previous checkpoint", e, moved.name)
    return None, None


def check_matches(ckpt: dict, path: Path, cfg: dict, classes: list[str]) -> None:
    """Refuse a checkpoint made by another config or for other classes, naming what differs."""
    saved = ckpt["hyper_parameters"]
    diffs = identity.differences(identity.identity(saved["cfg"]), identity.identity(cfg))
    if list(saved.get("classes", [])) != list(classes):
        diffs.append(f"classes: {saved.get('classes')} -> {classes}")
    if diffs:
        shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise ResumeError(
            f"checkpoint {path} was made by a different run ({shown}); rerun with the config it was "
            f"made with, or start a new run (resume=never, or another hydra.run.dir)"
        )


def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / STATUS).read_text())
    except (OSError, ValueError):
        return {}


def write_status(run_dir: Path, status: dict) -> None:
    atomic_write_json(run_dir / STATUS, status)


def finished(run_dir: Path, budget: dict) -> bool:
    """A run that ended (tested, metrics written) with a budget at least as large as this one, or was pruned
    by its Optuna trial (final whatever the budget: it is never resumed)."""
    status = read_status(run_dir)
    if status.get("status") not in ("finished", "pruned") or not (run_dir / "metrics.json").is_file():
        return False
    if status["status"] == "pruned":
        return True
    before = status.get("budget", {})
    return all(_budget_covers(before.get(k), v) for k, v in budget.items())


def _budget_covers(before, now) -> bool:
    """Whether a run with budget `before` already did what `now` asks (-1/None mean unlimited)."""
    unlimited = (None, -1)
    if now in unlimited:
        return before in unlimited
    return before in unlimited or before >= now


def plan(run_dir: Path, mode: str, ckpt_path: str | None, cfg: dict, classes: list[str]) -> str | None:
    """The checkpoint this invocation continues from (None: a fresh start), per `resume=auto|never|must`."""
    if mode not in MODES:
        raise ResumeError(f"resume={mode!r}; accepted: {', '.join(MODES)}")
    ckpt_dir = run_dir / "checkpoints"
    if ckpt_path and ckpt_path != "last":  # an explicit file, e.g. another run's checkpoint
        ckpt = checkpoint_file.load(ckpt_path)
        check_matches(ckpt, Path(ckpt_path), cfg, classes)
        return str(ckpt_path)
    if mode == "never":
        if candidates(ckpt_dir):
            raise ResumeError(
                f"resume=never, but {run_dir} already holds checkpoints; leave hydra.run.dir unset "
                f"(a new directory is chosen beside the old one) or use resume=auto"
            )
        return None
    path, ckpt = newest_good(ckpt_dir)
    if path is None:
        if mode == "must" or ckpt_path == "last":
            raise ResumeError(
                f"resume={mode}{' ckpt_path=last' if ckpt_path else ''}: no checkpoint to resume in "
                f"{ckpt_dir}; run without it to start the run"
            )
        return None
    check_matches(ckpt, path, cfg, classes)
    log.info("resuming from %s (step %s)", path, ckpt.get("global_step"))
    return str(path)
