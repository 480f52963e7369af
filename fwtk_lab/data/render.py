"""Render phrases into uint8 images (white text on black, stored upright) by a recipe.

Two size rules (`Recipe.size_rule`):
- "original", the series' `var_data.py`/`fixed_data.py`: per phrase, start at `font_size` and, while the
  phrase's height h (Pillow's bbox bottom from the top of the ascent line, anchor "la") is below
  `fit_height`, grow by 1; then w, h = bbox right, bottom; w += left offset, h += top offset; draw at
  ((W - w) / 2 + dx, (H - h) / 2 + dy), truncated to integers (as Pillow 3's C drawing cast them).
- "ascenders", ours: one size per font, grown until the ascenders `bdfhklH` stand `fit_height` px
  above the baseline; the ascender-to-descender extent centred vertically, the advance width
  horizontally (letters fill the height; ascenders and descenders may be clipped).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageFont

from fwtk_lab.data.fonts import load

ASCENDERS = "bdfhklH"  # letters whose height above the baseline the "ascenders" rule measures
LETTERS = "bdfhklHgjpqy"  # ascenders and descenders: the extent the "ascenders" rule centres vertically
SIZE_RULES = ("original", "ascenders")


def jitter_limit(width: int, height: int) -> int:
    """The largest shift allowed: half the smaller side, so that no shift can move all the ink out."""
    return min(width, height) // 2


@dataclass(frozen=True)
class Recipe:
    """Every value that decides the pixels of one image, given its phrase, font and jitter."""

    width: int = 64
    height: int = 16
    font_size: int = 16  # starting size
    fit_height: int | None = 15  # grow the size by 1 until the text is this tall (see size_rule); None: keep font_size
    max_font_size: int = 96
    align: str = "center"  # center | left
    jitter: tuple[int, int] = (-3, 3)  # integer shift drawn from [lo, hi) on x and y; lo == hi: none
    size_rule: str = "original"  # original (per phrase, the series) | ascenders (per font, ours)

    def validate(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size {self.width}x{self.height} must be positive")
        if self.align not in ("center", "left"):
            raise ValueError(f"dataset.align={self.align!r}; accepted: center, left")
        if self.size_rule not in SIZE_RULES:
            raise ValueError(f"dataset.size_rule={self.size_rule!r}; accepted: {', '.join(SIZE_RULES)}")
        lo, hi = self.jitter
        if hi < lo:
            raise ValueError(f"dataset.jitter=[{lo}, {hi}] is not a range [lo, hi) with lo <= hi")
        limit = jitter_limit(self.width, self.height)
        if lo < -limit or (hi > lo and hi - 1 > limit):
            raise ValueError(
                f"dataset.jitter=[{lo}, {hi}] can shift the text by up to {max(-lo, hi - 1)} px, "
                f"which can push the ink out of the {self.width}x{self.height} image; accepted: shifts within "
                f"+-{limit} px (half the smaller side), e.g. [-3, 3]"
            )
        if self.fit_height is not None and not 0 < self.fit_height <= 4 * self.height:
            raise ValueError(
                f"dataset.fit_height={self.fit_height} must be in 1..{4 * self.height} (image height {self.height})"
            )
        if not 1 <= self.font_size <= self.max_font_size:
            raise ValueError(f"dataset.font_size={self.font_size} must be in 1..max_font_size={self.max_font_size}")


def fitted_size(path: str, recipe: Recipe) -> int:
    """The "ascenders" rule's one size per font: grow from font_size until `bdfhklH` stand fit_height px tall."""
    size = recipe.font_size
    if recipe.fit_height is None:
        return size
    while size < recipe.max_font_size:
        left, top, right, bottom = load(path, size).getbbox(ASCENDERS, anchor="ls")
        if -top >= recipe.fit_height:
            break
        size += 1
    return size


def pixel(x64: int) -> int:
    """FreeType's 26.6 fixed point to the nearest pixel, as Pillow places glyphs (PIXEL in _imagingft.c)."""
    return (x64 + 32) >> 6


class Metrics:
    """One font at one size: per-character bbox (anchor "la"), advances and kerning pairs in 1/64 px.

    A phrase's bbox and glyph positions are computed from these as Pillow's basic layout does (kerning
    can be fractional), which `tests/test_render.py` checks against `getbbox` and whole-phrase drawing.
    """

    def __init__(self, font: ImageFont.FreeTypeFont):
        self.font = font
        self.boxes: dict[str, tuple[int, int, int, int]] = {}
        self.advance: dict[str, int] = {}
        self.kern: dict[str, int] = {}
        self.glyphs: dict[tuple[str, int], tuple[np.ndarray, int, int]] = {}  # (char, 1/64 px offset) -> int32 bitmap

    def glyph(self, ch: str, frac64: int) -> tuple[np.ndarray, int, int]:
        """The coverage bitmap of one character drawn at pen x = frac64 / 64, and its offset from the pen."""
        key = (ch, frac64)
        if key not in self.glyphs:
            mask, (ox, oy) = self.font.getmask2(ch, "L", anchor="la", start=(frac64 / 64, 0))
            bitmap = np.asarray(mask, dtype=np.uint8).reshape(mask.size[1], mask.size[0])
            self.glyphs[key] = (bitmap.astype(np.int32), ox, oy)
        return self.glyphs[key]

    def _x64(self, text: str) -> int:
        return round(self.font.getlength(text) * 64)

    def layout(self, phrase: str) -> tuple[list[int], tuple[int, int, int, int]]:
        """Pen positions (1/64 px) of each character and the end of the last, and the phrase's getbbox(anchor="la")."""
        boxes, advance, kern = self.boxes, self.advance, self.kern
        for ch in phrase:
            if ch not in advance:
                boxes[ch] = self.font.getbbox(ch, anchor="la")
                advance[ch] = self._x64(ch)
        pos, starts = 0, []
        left, top, right, bottom = 0, 1 << 30, 0, -(1 << 30)
        prev = None
        for ch in phrase:
            if prev is not None:
                pair = prev + ch
                k = kern.get(pair)
                if k is None:
                    k = kern[pair] = self._x64(pair) - advance[prev] - advance[ch]
                pos += advance[prev] + k
            starts.append(pos)
            px = (pos + 32) >> 6
            b = boxes[ch]
            left, top = min(left, px + b[0]), min(top, b[1])
            right, bottom = max(right, px + b[2]), max(bottom, b[3])
            prev = ch
        end = pos + advance[prev] if phrase else 0
        starts.append(end)
        right = max(right, (end + 32) >> 6)
        return starts, ((left, top, right, bottom) if phrase else (0, 0, 0, 0))

    def starts(self, phrase: str) -> list[int]:
        """Pen position (1/64 px) of each character, and the end of the last (len(phrase) + 1 values)."""
        return self.layout(phrase)[0]

    def bbox(self, phrase: str) -> tuple[int, int, int, int]:
        """The phrase's getbbox(anchor="la"), from the characters' boxes and pen positions."""
        return self.layout(phrase)[1]


class Renderer:
    """One font file under a recipe: a font object per size, each character's bitmap rendered once per sub-pixel
    offset and composited where it reaches the window (pixel-identical to Pillow drawing the whole phrase)."""

    def __init__(self, path: str, recipe: Recipe):
        self.path, self.recipe = path, recipe
        self.metrics: dict[int, Metrics] = {}
        if recipe.size_rule == "ascenders":
            self.size = fitted_size(path, recipe)
            left, top, right, bottom = self.at(self.size).font.getbbox(LETTERS)
            self.y0 = (recipe.height - (bottom - top)) / 2 - top  # same baseline for every phrase of the font

    def at(self, size: int) -> Metrics:
        if size not in self.metrics:
            self.metrics[size] = Metrics(load(self.path, size))
        return self.metrics[size]

    def place(self, phrase: str, dx: int = 0, dy: int = 0) -> tuple[int, int, int, list[int]]:
        """(font size, x, y of the anchor "la", pen positions in 1/64 px) of the phrase under the recipe's rule."""
        r = self.recipe
        if r.size_rule == "ascenders":
            starts = self.at(self.size).starts(phrase)
            x0 = (r.width - starts[-1] / 64) / 2 if r.align == "center" else 0.0
            return self.size, math.floor(x0 + dx), math.floor(self.y0 + dy), starts
        size = r.font_size
        starts, (left, top, right, bottom) = self.at(size).layout(phrase)
        while r.fit_height is not None and bottom < r.fit_height and size < r.max_font_size:
            size += 1
            starts, (left, top, right, bottom) = self.at(size).layout(phrase)
        w, h = right + left, bottom + top  # the series added getoffset to getsize
        x = int((r.width - w) / 2 + dx) if r.align == "center" else dx
        return size, x, int((r.height - h) / 2 + dy), starts

    def __call__(self, phrase: str, dx: int = 0, dy: int = 0) -> np.ndarray:
        return self.render(phrase, dx, dy)[0]

    def render(self, phrase: str, dx: int = 0, dy: int = 0) -> tuple[np.ndarray, int]:
        """The image (H, W) uint8 and the font size used.

        Each visible character's cached bitmap is composited as Pillow composites the glyphs of one
        text (coverage s over t: s + t * (255 - s) / 255, rounded): the pixels of drawing the whole phrase.
        """
        width, height = self.recipe.width, self.recipe.height
        size, x, y, starts = self.place(phrase, dx, dy)
        m = self.at(size)
        out = np.zeros((height, width), dtype=np.int32)
        # characters whose pen lies within `size` px of the window (no glyph reaches further from its pen)
        lo = bisect.bisect_left(starts, (-x - size - 1) * 64, 0, len(phrase))
        hi = bisect.bisect_right(starts, (width - x + size + 1) * 64, lo, len(phrase))
        ink_right = 0  # columns right of this hold no ink yet: plain copy there
        for i in range(lo, hi):
            ch, pen = phrase[i], x * 64 + starts[i]
            bitmap, ox, oy = m.glyph(ch, pen & 63)
            gx, gy = (pen >> 6) + ox, y + oy
            gh, gw = bitmap.shape
            x0, y0, x1, y1 = max(gx, 0), max(gy, 0), min(gx + gw, width), min(gy + gh, height)
            if x1 <= x0 or y1 <= y0:
                continue
            src = bitmap[y0 - gy : y1 - gy, x0 - gx : x1 - gx]
            if x0 >= ink_right:
                out[y0:y1, x0:x1] = src
            else:
                t = out[y0:y1, x0:x1] * (255 - src) + 128
                out[y0:y1, x0:x1] = src + ((t + (t >> 8)) >> 8)
            ink_right = max(ink_right, x1)
        return out.astype(np.uint8), size


def jitters(seed: int, n_fonts: int, n_phrases: int, span: tuple[int, int]) -> np.ndarray:
    """(fonts, phrases, 2) integer shifts; drawn up front so they do not depend on how work is split."""
    lo, hi = span
    if lo == hi:
        return np.zeros((n_fonts, n_phrases, 2), dtype=np.int16)
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(n_fonts, n_phrases, 2), dtype=np.int16)
