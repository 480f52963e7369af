"""Seconds per line image for `predict` after the model is loaded (CPU, 1 thread): read, prepare, windows, model.

    .venv/bin/python experiments/predict_latency.py CKPT DIR [--n 300]

DIR is a folder written by `python -m fwtk_lab.agg_lines`; prints the median, 90th percentile and
maximum over the images, and the same for the longest lines (whole lines at 64 px).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from fwtk_lab.data.lineprep import read_image
from fwtk_lab.inference.classify import classify, geometry_of, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ckpt")
    parser.add_argument("folder")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.ckpt)
    geometry = geometry_of(model)
    rows = list(csv.DictReader(open(Path(args.folder) / "manifest.csv", newline="")))[: args.n]
    times, big = [], []
    for r in rows:
        start = time.perf_counter()
        classify(model, read_image(Path(args.folder) / r["file"]), "auto", geometry)
        times.append(time.perf_counter() - start)
        if r["kind"] == "line" and r["size_px"] == "64":
            big.append(times[-1])
    for name, t in (("all", times), ("whole lines at 64 px", big)):
        t = np.array(t) * 1000
        print(
            f"{name}: {len(t)} images, median {np.median(t):.1f} ms, p90 {np.percentile(t, 90):.1f} ms, max {t.max():.1f} ms"
        )


if __name__ == "__main__":
    main()
