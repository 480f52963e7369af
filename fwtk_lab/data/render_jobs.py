"""Render a dataset's images in worker processes, straight into one memory-mapped file; the same bytes
whatever the number of workers."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fwtk_lab.data.lines import LineRenderer, LinesRecipe
from fwtk_lab.data.render import Recipe, Renderer, jitters

CHUNK = 2048  # images per work item
OTHER_STREAM = 7  # the random stream (with the seed) that picks an `other` font per phrase


def _render_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Worker: render some phrases in one font straight into the memory-mapped output at rows `rows`.

    Returns (rows, the font size of each image)."""
    out_path, font_path, recipe, rows, phrases, shifts = args
    images = np.load(out_path, mmap_mode="r+")
    render = _renderer(font_path, recipe)
    sizes = np.empty(len(phrases), dtype=np.int16)
    for i, (row, phrase) in enumerate(zip(rows, phrases)):
        if isinstance(render, LineRenderer):  # its random choices are seeded by the image's row
            images[row], sizes[i] = render.render(phrase, int(row))
        else:
            images[row], sizes[i] = render.render(phrase, int(shifts[i, 0]), int(shifts[i, 1]))
    images.flush()
    return rows, sizes


_RENDERERS: dict = {}  # per process: one Renderer per (font, recipe), built on first use


def _renderer(path: str, recipe: Recipe | LinesJob) -> Renderer | LineRenderer:
    key = (path, recipe)
    if key not in _RENDERERS:
        if isinstance(recipe, LinesJob):
            r = recipe.recipe
            _RENDERERS[key] = LineRenderer(path, recipe.lines, r.height, r.width, recipe.seed)
        else:
            _RENDERERS[key] = Renderer(path, recipe)
    return _RENDERERS[key]


@dataclass(frozen=True)
class LinesJob:
    """What a build worker needs for the `lines` recipe: the image size, the ranges and the seed."""

    recipe: Recipe
    lines: LinesRecipe
    seed: int


def render_all(
    out_path: Path,
    font_paths: list[str],
    recipe: Recipe | LinesJob,
    phrases: list[str],
    seed: int,
    workers: int,
    other_paths: list[str] = (),
) -> np.ndarray:
    """Fill images.npy (classes x phrases, H, W); deterministic whatever the number of workers.

    With `other_paths`, one more class follows the fonts' classes: each phrase drawn in one of those fonts
    (chosen by the seed), for models that should answer `other` to fonts they were not trained on.
    Returns the font size of every image (classes x phrases)."""
    n = len(phrases)
    classes = len(font_paths) + (1 if other_paths else 0)
    jitter = recipe.recipe.jitter if isinstance(recipe, LinesJob) else recipe.jitter
    shifts = jitters(seed, classes, n, jitter)
    work = [(path, label, np.arange(n)) for label, path in enumerate(font_paths)]
    if other_paths:
        pick = other_assignment(seed, n, len(other_paths))
        work += [(path, len(font_paths), np.flatnonzero(pick == k)) for k, path in enumerate(other_paths)]
    jobs = [
        (
            str(out_path),
            path,
            recipe,
            label * n + ids[start : start + CHUNK],
            [phrases[i] for i in ids[start : start + CHUNK]],
            shifts[label, ids[start : start + CHUNK]],
        )
        for path, label, ids in work
        for start in range(0, len(ids), CHUNK)
    ]
    columns = (TextColumn("[bold]rendering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("render", total=n * classes)
        sizes = np.zeros(n * classes, dtype=np.int16)

        def done(result: tuple[np.ndarray, np.ndarray]) -> None:
            rows, chunk = result
            sizes[rows] = chunk
            bar.advance(task, len(chunk))

        if workers <= 1:
            for job in jobs:
                done(_render_chunk(job))
        else:
            with spawn_context().Pool(workers) as pool:
                for result in pool.imap_unordered(_render_chunk, jobs):
                    done(result)
    return sizes.reshape(classes, n)


def spawn_context() -> mp.context.BaseContext:
    """multiprocessing's spawn context (no fork of a process that may hold torch threads), also inside a
    joblib launcher job: loky sets the job's default start method to "loky", which a spawned child
    is told to use before it can import loky, so each child would die starting."""
    if mp.get_start_method(allow_none=True) not in (None, "spawn", "fork", "forkserver"):
        mp.set_start_method("spawn", force=True)
    return mp.get_context("spawn")


def other_assignment(seed: int, n: int, fonts: int) -> np.ndarray:
    """Which of the `other` fonts draws each phrase of the `other` class."""
    return np.random.default_rng([seed, OTHER_STREAM]).integers(0, fonts, size=n)
