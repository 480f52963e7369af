"""Test images drawn by another renderer (matplotlib's Agg), to evaluate models on pixels this project did not draw.

    python -m fwtk_lab.agg_lines out=agg_eval
    python -m fwtk_lab.agg_lines out=agg_unseen 'faces=["Liberation Serif",Z003]' per_font=100

Writes OUT/images/<id>.png (RGB) and OUT/manifest.csv (one row per image: file, font, font_file, size_px,
points, dpi, polarity, kind, text_source, text, ink, background). Image i of every font shows the same text
at the same size, dpi, polarity and colours, so fonts differ only in the font. The folder is built under a
temporary name beside OUT and renamed into place at the end: a killed run never leaves a complete-looking OUT.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.transforms import IdentityTransform
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import atomic_write_text
from fwtk_lab.data.agg_sources import MIN_CHARS, other_lines, resolve_fonts, shakespeare_lines, snippet
from fwtk_lab.data.fonts import FontError

POLARITIES = ("dark", "light")  # dark: dark ink on a light background; light: light ink on a dark one
KINDS = ("line", "snippet")
TEXT_SOURCES = ("shakespeare", "other")
MIN_CONTRAST = 0.4  # luma difference (0..1) between background and ink when colors=true
MARGIN = (0.3, 1.5)  # random margin on each side, in multiples of size_px (colors=true)
FIXED_MARGIN = 0.5  # margin on each side with colors=false
COLUMNS = (
    "file", "font", "font_file", "size_px", "points", "dpi", "polarity", "kind", "text_source", "text",
    "ink", "background",
)  # fmt: skip
# Text settings pinned to matplotlib's own defaults, so a user's matplotlibrc cannot change the pixels.
RC_KEYS = ("text.antialiased", "text.hinting", "text.hinting_factor", "text.kerning_factor", "text.parse_math")


@dataclass(frozen=True)
class Spec:
    """What image i of every font shows."""

    size_px: int
    dpi: int
    polarity: str
    kind: str
    text_source: str
    text: str
    ink: tuple[int, int, int]
    background: tuple[int, int, int]
    margins: tuple[float, float, float, float]  # left, top, right, bottom, in multiples of size_px


# ---------------------------------------------------------------------------------------------- plan


def dealt(values: list, n: int, rng: np.random.Generator) -> list:
    """n values dealt in shuffled rounds: each appears n / len(values) times (+-1), in a seeded order."""
    out: list = []
    while len(out) < n:
        out += [values[i] for i in rng.permutation(len(values))]
    return out[:n]


def luma(rgb: tuple[int, int, int]) -> float:
    """Pillow's greyscale (ITU-R 601-2 luma) of an RGB colour, 0..1."""
    r, g, b = rgb
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def colours(polarity: str, random_colours: bool, rng: np.random.Generator) -> tuple[tuple, tuple]:
    """(ink, background): black on white / white on black, or random with a luma contrast >= MIN_CONTRAST."""
    if not random_colours:
        black, white = (0, 0, 0), (255, 255, 255)
        return (black, white) if polarity == "dark" else (white, black)
    while True:
        a, b = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
        dark, light = (a, b) if luma(a) < luma(b) else (b, a)
        if luma(light) - luma(dark) >= MIN_CONTRAST:
            return (dark, light) if polarity == "dark" else (light, dark)


def plan(cfg: DictConfig) -> list[Spec]:
    """The per_font images every font draws (the same texts, sizes, polarities and colours for each font)."""
    n, rng = int(cfg.per_font), np.random.default_rng(int(cfg.seed))
    pools = {"shakespeare": shakespeare_lines, "other": other_lines}
    sources = dealt(list(cfg.texts), n, rng)
    texts = {s: iter(dealt(pools[s](), sources.count(s), rng)) for s in TEXT_SOURCES if s in sources}
    columns = zip(
        dealt(list(cfg.sizes_px), n, rng),
        dealt(list(cfg.dpis), n, rng),
        dealt(list(cfg.polarities), n, rng),
        dealt(list(cfg.kinds), n, rng),
        sources,
    )
    specs = []
    for size, dpi, polarity, kind, source in columns:
        text = next(texts[source])
        if kind == "snippet":
            text = snippet(text, int(cfg.snippet_chars), rng)
        ink, background = colours(polarity, bool(cfg.colors), rng)
        margins = tuple(float(m) for m in rng.uniform(*MARGIN, 4)) if cfg.colors else (FIXED_MARGIN,) * 4
        specs.append(Spec(int(size), int(dpi), polarity, kind, source, text, ink, background, margins))
    return specs


# ---------------------------------------------------------------------------------------------- drawing


def points_of(size_px: int, dpi: int) -> float:
    """The font size in points that is size_px pixels at dpi (rounded to 4 decimals, as the manifest says)."""
    return round(size_px * 72 / dpi, 4)


def draw(text: str, font_path: str, size_px: int, dpi: int, ink, background, margins) -> Image.Image:
    """The text drawn by matplotlib's Agg canvas, cropped to its ink plus margins (multiples of size_px)."""
    rc = {k: matplotlib.rcParamsDefault[k] for k in RC_KEYS}
    with matplotlib.rc_context(rc):
        prop = FontProperties(fname=font_path, size=points_of(size_px, dpi))
        fig = Figure(figsize=(1, 1), dpi=dpi, facecolor=np.array(background) / 255)
        canvas = FigureCanvasAgg(fig)
        pad = 2 * size_px + 4  # room around the layout box for ink that overhangs it
        t = fig.text(pad, pad, text, fontproperties=prop, color=np.array(ink) / 255, transform=IdentityTransform())
        t.set_parse_math(False)  # '$' is a dollar sign, not mathtext
        box = t.get_window_extent(renderer=canvas.get_renderer())
        fig.set_size_inches((box.width + 2 * pad) / dpi, (box.height + 2 * pad) / dpi)
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    differs = np.any(rgb != np.array(background, dtype=np.uint8), axis=2)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if rows.size == 0:
        raise FontError(f"font {font_path!r} draws nothing for {text!r} with matplotlib's Agg renderer")
    if rows[0] == 0 or cols[0] == 0 or rows[-1] == rgb.shape[0] - 1 or cols[-1] == rgb.shape[1] - 1:
        raise FontError(f"font {font_path!r} draws {text!r} beyond its layout box by more than {pad} px")
    left, top, right, bottom = (round(m * size_px) for m in margins)
    ink_img = Image.fromarray(rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    out = Image.new("RGB", (ink_img.width + left + right, ink_img.height + top + bottom), tuple(background))
    out.paste(ink_img, (left, top))
    return out


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- output


def hex_colour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse a file, a non-empty folder without overwrite, or (even with it) a folder this did not write."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file; give a folder to write (new, empty, or written by agg_lines)")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"out={out} exists and is not empty; give a new folder or overwrite=true to replace it")
        if not (out / "manifest.csv").is_file():
            raise ConfigError(
                f"out={out} is not empty and has no manifest.csv (not written by agg_lines); "
                f"refusing to replace it even with overwrite=true; give a new folder"
            )


def check_config(cfg: DictConfig) -> None:
    """Every value in range, named in the error with what is accepted."""
    if OmegaConf.is_missing(cfg, "out") or not str(cfg.out).strip():
        raise ConfigError("out is required: out=DIR, the folder to write (images/ and manifest.csv)")
    for key in ("sizes_px", "dpis"):
        values = as_list(cfg, key)
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise ConfigError(f"{key}={values} must be a non-empty list of whole numbers >= 1")
    for key, accepted in (("polarities", POLARITIES), ("kinds", KINDS), ("texts", TEXT_SOURCES)):
        values = as_list(cfg, key)
        bad = [v for v in values if v not in accepted]
        if not values or bad:
            raise ConfigError(f"{key}={values}: {bad or 'empty'} not accepted; accepted: {', '.join(accepted)}")
    for key, lo, hi in (("per_font", 1, None), ("snippet_chars", 1, MIN_CHARS), ("seed", 0, None)):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            raise ConfigError(f"{key}={v!r} must be a whole number >= {lo}" + (f" and <= {hi}" if hi else ""))
    for key in ("colors", "overwrite"):
        if not isinstance(cfg[key], bool):
            raise ConfigError(f"{key}={cfg[key]!r} must be true or false")


def as_list(cfg: DictConfig, key: str) -> list:
    return list(cfg[key]) if OmegaConf.is_list(cfg[key]) else [cfg[key]]


def write(cfg: DictConfig) -> Path:
    """Render every font's images into a temporary folder beside out, then rename it into place."""
    check_config(cfg)
    cfg = OmegaConf.merge(cfg, {k: as_list(cfg, k) for k in ("sizes_px", "dpis", "polarities", "kinds", "texts")})
    out = Path(str(cfg.out)).expanduser()
    overwrite = bool(cfg.overwrite)
    check_out(out, overwrite)
    found = resolve_fonts(cfg.faces)
    specs = plan(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        (tmp / "images").mkdir()
        rows = []
        for (label, path), s in itertools.product(found, specs):
            name = f"images/{len(rows):06d}.png"
            img = draw(s.text, path, s.size_px, s.dpi, s.ink, s.background, s.margins)
            (tmp / name).write_bytes(png_bytes(img))
            points = f"{points_of(s.size_px, s.dpi):g}"
            rows.append([name, label, path, s.size_px, points, s.dpi, s.polarity, s.kind, s.text_source, s.text,
                         hex_colour(s.ink), hex_colour(s.background)])  # fmt: skip
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        atomic_write_text(tmp / "manifest.csv", buf.getvalue())
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        replace_dir(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def replace_dir(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename tmp to out; an old out (checked by check_out) is moved aside first, then deleted."""
    check_out(out, overwrite)  # again: something may have appeared while rendering
    if out.is_dir() and any(out.iterdir()):
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)  # replaces an empty folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
