"""Data: images/s of the dataset builder's renderer vs the original's naive loop on the same phrases."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.bench import lab
from experiments.bench.store import save, spread
from experiments.naive_render import naive_images


def builder_rate(fonts: list[str], recipe, phrases: list[str], workers: int) -> float:
    """Images/s of `render_all` into a memory-mapped file in a temporary directory."""
    n = len(phrases) * len(fonts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, recipe.height, recipe.width))
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(open(os.devnull, "w")), contextlib.redirect_stderr(open(os.devnull, "w")):
            lab.render_jobs.render_all(path, fonts, recipe, phrases, 0, workers)
        return n / (time.perf_counter() - t0)


def run(quick: bool = False, n_phrases: int = 3000, rounds: int = 3) -> None:
    """Naive vs builder (1 process, all cores) on seeded default phrases x fonts; stored as data/var_jitter."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = lab.compose([], Path(tmp))
    fonts = [f.path for f in lab.fontlib.resolve(list(cfg.dataset.fonts))]
    phrases, _ = lab.dataset_lib.select_phrases(cfg.dataset)
    rng = np.random.default_rng(0)
    n_phrases = 100 if quick else n_phrases
    phrases = [phrases[i] for i in np.sort(rng.choice(len(phrases), n_phrases, replace=False))]
    recipe = lab.dataset_lib.recipe_of(cfg.dataset)
    n = len(phrases) * len(fonts)
    ours_1, ours_all, naive = [], [], []
    workers = os.cpu_count() or 1
    for _ in range(1 if quick else rounds):
        t0 = time.perf_counter()
        naive_images(phrases, fonts, jitter=tuple(cfg.dataset.jitter), seed=0)
        naive.append(n / (time.perf_counter() - t0))
        ours_1.append(builder_rate(fonts, recipe, phrases, 1))
        ours_all.append(builder_rate(fonts, recipe, phrases, workers))
    value = {
        "images": n,
        "naive_images_per_s": spread(naive),
        "builder_1_process": spread(ours_1),
        f"builder_{workers}_processes": spread(ours_all),
        "workers": workers,
        "ratio_1_process": spread([a / b for a, b in zip(ours_1, naive)]),
        "ratio_all_processes": spread([a / b for a, b in zip(ours_all, naive)]),
    }
    save("data", "var_jitter", value, quick)
