"""Training-step throughput of an encoder with 1 vs 2 torch intra-op threads, in one process.

    .venv/bin/python -m experiments.threads_bench [model] [batch] [steps]   (make bench-threads)

Times forward + backward + Adam step on random uint8 batches of the default image shape, alternating
the thread count in rounds so that both settings see the same machine load; prints samples/s and
the ratio, and appends the result to experiments/threads_bench.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

import fwtk_lab  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch starts its OpenMP threads)
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.models.slicer import BlockSlicer

HERE = Path(__file__).resolve().parent


def steps_per_second(model, slicer, batch: int, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 1, 16, 64), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 5, (batch,), generator=g)
    t0 = time.perf_counter()
    for _ in range(steps):
        x = images.float() / 255
        x = slicer(x) if model.takes_blocks else x
        loss = F.cross_entropy(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def main(model_name: str = "cnn_rnn", batch: int = 128, steps: int = 100) -> None:
    cfg = OmegaConf.load(CONF_DIR / "model" / f"{model_name}.yaml")
    slicer = BlockSlicer(8)
    cls_blocks = instantiate(cfg, num_classes=5, input_shape=(8, 1, 16, 8)).takes_blocks
    model = instantiate(cfg, num_classes=5, input_shape=(8, 1, 16, 8) if cls_blocks else (1, 16, 64))
    steps_per_second(model, slicer, batch, 10, 1)  # warm-up
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(5):
        for n in (1, 2):
            rates[n].append(steps_per_second(model, slicer, batch, steps, n))
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    line = f"| {time.strftime('%Y-%m-%d')} | {model_name} | {batch} | {one:,.0f} | {two:,.0f} | {one / two:.2f} |"
    print(line)
    out = HERE / "threads_bench.md"
    if not out.exists():
        out.write_text(
            "# Training throughput, 1 vs 2 torch threads (samples/s, median of 5 alternating rounds)\n\n"
            "Command: `make bench-threads` (`.venv/bin/python -m experiments.threads_bench [model] [batch] [steps]`), "
            "on the 2-core CI-size machine, OMP_WAIT_POLICY=PASSIVE (fwtk_lab's default).\n\n"
            "| date | model | batch | 1 thread | 2 threads | ratio 1/2 |\n|---|---|---:|---:|---:|---:|\n"
        )
    with out.open("a") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "cnn_rnn", int(args[1]) if len(args) > 1 else 128, int(args[2]) if len(args) > 2 else 100)
