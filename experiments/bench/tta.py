"""Time to accuracy: real training runs of the settings found, their test accuracy and fit seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from experiments.bench.store import save

ROOT = Path(__file__).resolve().parents[2]
TTA = {  # model -> the settings found (see bench.md), the target accuracy and training-seconds budget
    # lr 0.01 (Adam) decayed to 0 by a per-step cosine over the whole run (T_max = epochs x 1,728 steps of 128)
    "cnn_rnn": (
        [
            "model=cnn_rnn",
            "optimizer.lr=0.01",
            "scheduler=cosine",
            "scheduler.interval=step",
            "scheduler.T_max=3456",
            "trainer.max_epochs=2",  # 1 epoch (T_max=1728) reached 99.08% in 15 s on the current recipe
        ],
        0.995,
        60,
    ),
    "cnn_rnn_small": (
        [
            "model=cnn_rnn_small",
            "optimizer.lr=0.01",
            "scheduler=cosine",
            "scheduler.interval=step",
            "scheduler.T_max=3456",
            "trainer.max_epochs=2",
        ],
        0.99,
        120,
    ),
}


def run(model: str, quick: bool = False) -> None:
    """Train `model` with its TTA settings (the worktree's code, its data cache); stored as tta/model."""
    over, target, budget = TTA[model]
    if quick:
        over = [*over, "dataset.max_phrases=300", "trainer.max_epochs=1"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "fwtk_lab.train",
            *over,
            "resume=never",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp}/run",
            f"paths.data_dir={ROOT / 'data'}",
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    value = {
        "command": "python -m fwtk_lab.train " + " ".join(over),
        "test_acc": m["test/acc"],
        "fit_seconds": m["fit_seconds"],
        "epochs": m["epochs"],
        "target_acc": target,
        "budget_seconds": budget,
        "met": bool(m["test/acc"] >= target and m["fit_seconds"] <= budget),
    }
    save("tta", model, value, quick)
