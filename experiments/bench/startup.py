"""Start-up: wall seconds from starting `python -m fwtk_lab.train trainer=debug` to its first training step."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.bench import lab
from experiments.bench.store import save, spread

ROOT = Path(__file__).resolve().parents[2]
IMPORTS = ("torch", "torchmetrics", "pytorch_lightning", "fwtk_lab.train")  # the floor, each in a fresh process


def env() -> dict:
    """The environment of the subprocesses: the repo root first on PYTHONPATH (FirstStep is found there)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def first_step(tmp: Path) -> tuple[float, float]:
    """Seconds to the first training step and to the end of one `trainer=debug` command, its run dir in tmp."""
    stamp = tmp / "first_step"
    cmd = [
        sys.executable,
        "-m",
        "fwtk_lab.train",
        "trainer=debug",
        "resume=never",
        "+callbacks.first_step._target_=experiments.bench.callbacks.FirstStep",
        f"+callbacks.first_step.path={stamp}",
        f"hydra.run.dir={tmp}/run",
    ]
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return float(stamp.read_text()) - t0, time.time() - t0


def import_seconds(mod: str) -> float:
    """Wall seconds of `python -c 'import mod'`."""
    t0 = time.time()
    subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, cwd=ROOT, env=env())
    return time.time() - t0


def run(quick: bool = False, rounds: int = 5) -> None:
    """First-step and whole-command seconds (warm cache), and the import floor; stored as startup/trainer=debug."""
    lab.default_store()  # the cache is built and verified (warm)
    secs, totals = [], []
    for _ in range(1 if quick else rounds):
        with tempfile.TemporaryDirectory() as tmp:
            first, total = first_step(Path(tmp))
            secs.append(first)
            totals.append(total)
    imports = {mod: spread([import_seconds(mod) for _ in range(1 if quick else 3)]) for mod in IMPORTS}
    value = {
        "first_step_seconds": spread(secs),
        "total_seconds": spread(totals),
        "import_seconds": imports,
        "command": "python -m fwtk_lab.train trainer=debug",
    }
    save("startup", "trainer=debug", value, quick)
