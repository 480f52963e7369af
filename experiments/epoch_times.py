"""One epoch of each model on the default dataset: wall time, throughput, test accuracy.

.venv/bin/python experiments/epoch_times.py [extra Hydra overrides]   -> experiments/epoch_times.md
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ["logreg", "mlp", "size_features", "cnn", "rnn", "cnn_rnn", "cnn_rnn_small", "transformer"]


def main(extra: list[str]) -> None:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    rows = []
    for model in MODELS:
        run_dir = HERE.parent / "outputs" / "epoch_times" / stamp / model
        cmd = [
            sys.executable,
            "-m",
            "fwtk_lab.train",
            f"model={model}",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
            *extra,
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        m = json.loads((run_dir / "metrics.json").read_text())
        rows.append((model, m["params"], m["fit_seconds"], m["test_seconds"], wall, m["test/acc"], m["val/acc_best"]))
        print(rows[-1], flush=True)
    lines = [
        f"# One epoch of each model ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{' '.join(['.venv/bin/python experiments/epoch_times.py', *extra])}` "
        "(default dataset var_jitter, 5 fonts, batch 128, Adam lr 3e-3, 1 torch thread, 2-core CPU).",
        "`fit s` covers the training epoch and its validation pass; `test s` the 176,875 test images.",
        "",
        "| model | params | fit s | test s | process wall s | test acc | val acc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r[0]} | {r[1]:,} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.4f} | {r[6]:.4f} |" for r in rows]
    (HERE / "epoch_times.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
