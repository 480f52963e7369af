"""What resumability costs: seconds per checkpoint and training samples/s with and without step checkpoints,
written in the training thread (the default) or by a thread (checkpoint.background=true).

    .venv/bin/python -m experiments.checkpoint_bench [model] [repeats]   -> experiments/checkpoint_bench.md

Alternates the two settings (same process layout, same data, same steps) and reports medians and ranges.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS, BATCH, EVERY = 300, 128, 25


def run(model: str, every: int | None, out: Path, background: bool = False) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "fwtk_lab.train",
        f"model={model}",
        "trainer.max_epochs=1",
        f"trainer.limit_train_batches={STEPS}",
        "trainer.limit_val_batches=5",
        "trainer.limit_test_batches=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "logger=none",
        f"checkpoint.every_n_steps={every if every else 'null'}",
        "checkpoint.every_minutes=null",
        f"checkpoint.background={str(background).lower()}",
        f"hydra.run.dir={out}",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inv = json.loads((out / "metrics.json").read_text())["invocations"][0]
    return {
        "samples_per_s": STEPS * BATCH / inv["fit_seconds"],
        "saves": inv["checkpoint_saves"],
        "save_s": inv["checkpoint_seconds"] / max(inv["checkpoint_saves"], 1),
    }


def main(model: str = "cnn_rnn", repeats: int = 3) -> None:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    settings = {
        "every 25 steps + epoch end": (EVERY, False),
        "every 25 steps + epoch end, background": (EVERY, True),
        "epoch end only": (None, False),
    }
    results: dict[str, list[dict]] = {name: [] for name in settings}
    for r in range(repeats):
        for i, (name, (every, background)) in enumerate(settings.items()):
            out = HERE.parent / "outputs" / "checkpoint_bench" / stamp / f"{i}-{r}"
            results[name].append(run(model, every, out, background))
            print(name, results[name][-1], flush=True)

    def cell(xs: list[float], fmt: str) -> str:
        return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"

    base = statistics.median(r["samples_per_s"] for r in results["epoch end only"])
    lines = [
        f"# Checkpoint overhead ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `.venv/bin/python -m experiments.checkpoint_bench {model} {repeats}` ({model}, batch {BATCH}, "
        f"{STEPS} training steps on the default dataset, 1 torch thread, 2-core CPU, the settings alternated, "
        "median (min-max) of the repeats). A checkpoint holds weights, optimizer, loops, RNG and the dataset's "
        "record. Seconds per save: the training thread's time in the save (with background, the copy; "
        "a thread writes the file).",
        "",
        "| checkpoints | saves | seconds per save | training samples/s | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rs in results.items():
        sps = [r["samples_per_s"] for r in rs]
        lines.append(
            f"| {name} | {rs[0]['saves']} | {cell([r['save_s'] for r in rs], '.4f')} | {cell(sps, ',.0f')} | "
            f"{statistics.median(sps) / base:.3f} |"
        )
    (HERE / "checkpoint_bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["cnn_rnn"]), *(int(x) for x in sys.argv[2:3]))
