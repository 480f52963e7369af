"""GPU benchmark, one prepared script (`make bench-gpu`): samples/s per model, fp32 vs bf16, epoch times with
the dataset resident on the device, steps/s and the fixed cost per step (plain, bare Lightning, fwtk_lab),
host syncs per training step, and one epoch through fwtk_lab's own Trainer.

    .venv/bin/python -m experiments.bench.gpu [--models a,b] [--batch N]   -> experiments/bench_gpu.md

Without a CUDA device it runs on the CPU with a tiny budget (a smoke test of the script; the numbers then say
nothing about a GPU). Builds the default dataset first if it is not cached (a few seconds on many cores).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import experiments.bench  # noqa: F401  (first: fwtk_lab sets OMP_WAIT_POLICY before torch starts OpenMP)
from experiments.bench import lab

REPORT = Path(__file__).resolve().parents[1] / "bench_gpu.md"

import fwtk_lab  # noqa: E402,F401

MODELS = ("logreg", "mlp", "size_features", "cnn", "rnn", "cnn_rnn", "cnn_rnn_small", "transformer")


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings end there)."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def epoch(
    model: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch: int,
    dtype: torch.dtype | None,
    device: torch.device,
    max_steps: int | None = None,
) -> tuple[float, int]:
    """Seconds and samples of one pass over resident uint8 images (B, 1, H, W), Adam, optional autocast dtype."""
    clf = lab.make_encoder(model).to(device)
    slicer, enc = clf.slicer, clf.encoder
    opt = torch.optim.Adam(enc.parameters(), lr=0.003)
    n = len(images)
    order = torch.randperm(n, device=device)
    steps = n // batch if max_steps is None else min(max_steps, n // batch)

    def step(i: int) -> None:
        idx = order[i * batch : (i + 1) * batch]
        x = images[idx].float().div_(255)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(enc(slicer(x) if enc.takes_blocks else x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(min(3, steps)):  # warm-up (cuDNN plans, allocator)
        step(i)
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    return time.perf_counter() - t0, steps * batch


def through_trainer(device: torch.device, quick: bool) -> float:
    """Seconds of one training epoch of cnn_rnn through `fwtk_lab.train`'s Trainer (trainer=gpu, batch 1024)."""
    with tempfile.TemporaryDirectory() as tmp:
        over = [
            "model=cnn_rnn",
            "data.batch_size=1024",
            "trainer.max_epochs=1",
            "trainer.limit_val_batches=0",
            "trainer.num_sanity_val_steps=0",
            "trainer.enable_progress_bar=false",
            "logger=none",
            "checkpoint.every_n_steps=null",
            f"+trainer.default_root_dir={tmp}",
        ]
        over += (
            ["trainer=gpu"] if device.type == "cuda" else ["trainer.accelerator=cpu", "trainer.limit_train_batches=3"]
        )
        cfg = lab.compose(over, Path(tmp))
        dm = lab.datamodule(cfg)
        clf = lab.classifier(cfg, dm.classes, dm.image_shape)
        trainer = lab.build_trainer(cfg)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            trainer.fit(clf, datamodule=dm)
        return time.perf_counter() - t0


def per_step(device: torch.device, images: torch.Tensor, labels: torch.Tensor, quick: bool) -> list[str]:
    """Steps/s and us per step (batch 128) of the plain loop, bare Lightning and fwtk_lab's Trainer, the data
    resident on the device (ours also memory-mapped), alternating in rounds; and the host syncs of ours' steps."""
    from experiments.bench import overhead
    from experiments.bench.callbacks import BATCH, SyncCount

    gpu = ["trainer.accelerator=gpu" if device.type == "cuda" else "trainer.accelerator=cpu"]  # fp32, as the others
    variants = {"ours (resident)": [*gpu, "data.resident=true"], "ours (memory map)": gpu}
    warm, steps, rounds = (5, 10, 1) if quick else (50, 500, 3)
    dm = lab.default_store()
    lines = [
        "",
        "Per step, batch 128 (the variants alternate in rounds; median [min-max]):",
        "",
        "| model | variant | steps/s | us per step |",
        "|---|---|---:|---:|",
    ]
    for model in ("one_parameter", "cnn_rnn"):
        rates: dict[str, list[float]] = {"plain": [], "bare Lightning": [], **{k: [] for k in variants}}
        for _ in range(rounds):
            rates["plain"].append(overhead.plain_loop(model, images, labels, warm, steps, 0.003))
            rates["bare Lightning"].append(overhead.bare_lightning(model, images, labels, warm, steps, 0.003))
            for name, over in variants.items():
                rates[name].append(overhead.ours(model, over, warm, steps, dm))
        for name, r in rates.items():
            per_s = sorted(x / BATCH for x in r)
            us = sorted(1e6 / x for x in per_s)
            lines.append(
                f"| {model} | {name} | {per_s[len(per_s) // 2]:,.0f} [{per_s[0]:,.0f}-{per_s[-1]:,.0f}] | "
                f"{us[len(us) // 2]:,.0f} [{us[0]:,.0f}-{us[-1]:,.0f}] |"
            )
            print(lines[-1], flush=True)
    counter = SyncCount(warm, steps)
    overhead.ours("cnn_rnn", variants["ours (resident)"], warm, steps, dm, extra=[counter])
    if device.type == "cuda":
        (s_log, n_log), (s_other, n_other) = counter.counts["logging"], counter.counts["other"]
        lines += [
            "",
            f"Host-device synchronisations in ours' training steps (cnn_rnn, resident; torch.cuda.set_sync_debug_mode): "
            f"{s_other} in {n_other} steps that log nothing, {s_log} in {n_log} logging steps "
            f"(every trainer.log_every_n_steps, where the logged values are read).",
        ]
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batch", type=int, default=1024)
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    quick = device.type != "cuda"
    name = (
        torch.cuda.get_device_name() if device.type == "cuda" else "CPU (smoke test: numbers say nothing about a GPU)"
    )
    lines = [
        f"# GPU benchmark: {name}",
        "",
        f"Command: `make bench-gpu` (`python -m experiments.bench.gpu`), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}.",
        "",
    ]
    print("\n".join(lines), flush=True)
    dm = lab.default_store()
    rows = np.sort(dm.rows["train"])
    if quick:
        rows = rows[: 4 * args.batch]
    t0 = time.perf_counter()
    images = torch.from_numpy(np.ascontiguousarray(dm.store.images[rows]))[:, None].to(device)
    labels = torch.from_numpy(np.ascontiguousarray(dm.store.labels[rows])).to(device)
    sync(device)
    lines.append(
        f"Training split resident on the device: {len(rows):,} images, {images.numel() / 2**20:.0f} MiB uint8, "
        f"copied in {time.perf_counter() - t0:.2f} s.\n"
    )
    lines += [
        "| model | batch | fp32 samples/s | bf16 samples/s | fp32 epoch s | bf16 epoch s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines[-3:]), flush=True)
    bf16 = torch.bfloat16
    for model in args.models.split(","):
        batches = [args.batch] if model != "cnn_rnn" or quick else [args.batch, 4096]
        for b in batches:
            row = {}
            for label, dtype in (("fp32", None), ("bf16", bf16)):
                try:
                    secs, n = epoch(model, images, labels, b, dtype, device, max_steps=3 if quick else None)
                    row[label] = (n / secs, secs)
                except Exception as e:  # a model/dtype the device cannot run is reported, the rest goes on
                    row[label] = None
                    print(f"{model} {label}: {type(e).__name__}: {e}", flush=True)
            cell = lambda r, i, f: "-" if r is None else format(r[i], f)  # noqa: E731
            line = (
                f"| {model} | {b} | {cell(row['fp32'], 0, ',.0f')} | {cell(row['bf16'], 0, ',.0f')} | "
                f"{cell(row['fp32'], 1, '.2f')} | {cell(row['bf16'], 1, '.2f')} |"
            )
            lines.append(line)
            print(line, flush=True)
    lines += per_step(device, images, labels, quick)
    secs = through_trainer(device, quick)
    what = "trainer=gpu, one epoch" if device.type == "cuda" else "CPU, 3 batches"
    lines += [
        "",
        f"cnn_rnn through fwtk_lab's Trainer ({what}, batch 1024, memory-mapped data, no validation, "
        f"no logger): trainer.fit took {secs:.1f} s, set-up included (target: one resident epoch <= 1 s, above).",
    ]
    print(lines[-1], flush=True)
    if not quick:
        lab.atomic_write_text(REPORT, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
