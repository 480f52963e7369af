"""Start-up: wall seconds from starting `python -m fwtk_lab.train trainer=debug` to its first training step,
and of `python -m fwtk_lab.predict` on one image (a cnn_rnn_small checkpoint), from the shell."""

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
# the floor, each imported in a fresh process
IMPORTS = ("torch", "hydra", "torchmetrics", "pytorch_lightning", "fwtk_lab.predict", "fwtk_lab.train")
IMAGE = ROOT / "experiments" / "images" / "stix_light_32px.png"


def env() -> dict:
    """The environment of the subprocesses: the repo root first on PYTHONPATH (FirstStep is found there)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def train_debug(run_dir: Path, *overrides: str) -> float:
    """Wall seconds of one `python -m fwtk_lab.train trainer=debug` command, its run in run_dir."""
    cmd = [sys.executable, "-m", "fwtk_lab.train", "trainer=debug", "resume=never", *overrides]
    t0 = time.time()
    run = dict(check=True, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*cmd, f"hydra.run.dir={run_dir}"], **run)
    return time.time() - t0


def first_step(tmp: Path) -> tuple[float, float]:
    """Seconds to the first training step and to the end of one `trainer=debug` command, its run dir in tmp."""
    stamp = tmp / "first_step"
    t0 = time.time()
    total = train_debug(
        tmp / "run",
        "+callbacks.first_step._target_=experiments.bench.callbacks.FirstStep",
        f"+callbacks.first_step.path={stamp}",
    )
    return float(stamp.read_text()) - t0, total


def predict_seconds(ckpt: Path) -> float:
    """Wall seconds of `python -m fwtk_lab.predict ckpt_path=CKPT image=IMAGE` (a table on stdout)."""
    t0 = time.time()
    cmd = [sys.executable, "-m", "fwtk_lab.predict", f"ckpt_path={ckpt}", f"image={IMAGE}"]
    subprocess.run(cmd, check=True, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL)
    return time.time() - t0


def import_seconds(mod: str) -> float:
    """Wall seconds of `python -c 'import mod'`."""
    t0 = time.time()
    subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, cwd=ROOT, env=env())
    return time.time() - t0


def run(quick: bool = False, rounds: int = 5) -> None:
    """First-step and whole-command seconds (warm cache), predict's seconds and the import floor;
    stored as startup/trainer=debug."""
    lab.default_store()  # the cache is built and verified (warm)
    secs, totals, predicts = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        train_debug(Path(tmp) / "small", "model=cnn_rnn_small")  # the checkpoint predict reads
        for _ in range(1 if quick else rounds):
            with tempfile.TemporaryDirectory() as run_tmp:
                first, total = first_step(Path(run_tmp))
            secs.append(first)
            totals.append(total)
            predicts.append(predict_seconds(Path(tmp) / "small" / "checkpoints" / "last.ckpt"))
    imports = {mod: spread([import_seconds(mod) for _ in range(1 if quick else 3)]) for mod in IMPORTS}
    value = {
        "first_step_seconds": spread(secs),
        "total_seconds": spread(totals),
        "predict_seconds": spread(predicts),
        "import_seconds": imports,
        "command": "python -m fwtk_lab.train trainer=debug",
        "predict_command": f"python -m fwtk_lab.predict ckpt_path=<cnn_rnn_small last.ckpt> image={IMAGE.relative_to(ROOT)}",
    }
    save("startup", "trainer=debug", value, quick)
