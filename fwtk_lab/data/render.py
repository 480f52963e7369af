"""Render phrases into uint8 images (white text on black, stored upright) by a recipe."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from fwtk_lab.data.fonts import load

ASCENDERS = "bdfhklH"  # letters whose height above the baseline the size rule measures
LETTERS = "bdfhklHgjpqy"  # ascenders and descenders: the extent centred vertically


@dataclass(frozen=True)
class Recipe:
    """Every value that decides the pixels of one image, given its phrase, font and jitter."""
    width: int = 64
    height: int = 16
    font_size: int = 16  # starting size
    fit_height: int | None = 15  # grow the size by 1 until ascenders stand this tall; None: keep font_size
    max_font_size: int = 96
    align: str = "center"  # center | left
    jitter: tuple[int, int] = (-3, 3)  # integer shift drawn from [lo, hi) on x and y; lo == hi: none

    def validate(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size {self.width}x{self.height} must be positive")
        if self.align not in ("center", "left"):
            raise ValueError(f"dataset.align={self.align!r}; accepted: center, left")
        lo, hi = self.jitter
        if hi < lo:
            raise ValueError(f"dataset.jitter=[{lo}, {hi}] is not a range [lo, hi) with lo <= hi")
        if self.fit_height is not None and not 0 < self.fit_height <= 4 * self.height:
            raise ValueError(f"dataset.fit_height={self.fit_height} must be in 1..{4 * self.height} (image height {self.height})")
        if not 1 <= self.font_size <= self.max_font_size:
            raise ValueError(f"dataset.font_size={self.font_size} must be in 1..max_font_size={self.max_font_size}")


def fitted_size(path: str, recipe: Recipe) -> int:
    """The series' size rule: start at font_size, grow by 1 until the text is fit_height tall.

    "Tall" is the ink height of the ascender letters above the baseline, so each font's letters
    fill the image height (descenders and tall punctuation may be clipped).
    """
    size = recipe.font_size
    if recipe.fit_height is None:
        return size
    while size < recipe.max_font_size:
        left, top, right, bottom = load(path, size).getbbox(ASCENDERS, anchor="ls")
        if -top >= recipe.fit_height:
            break
        size += 1
    return size


class Renderer:
    """One font at its fitted size; draws only the characters that can reach the visible window."""

    def __init__(self, path: str, recipe: Recipe):
        self.recipe = recipe
        self.size = fitted_size(path, recipe)
        self.font = load(path, self.size)
        left, top, right, bottom = self.font.getbbox(LETTERS)
        self.y0 = (recipe.height - (bottom - top)) / 2 - top  # same baseline for every phrase of the font
        self.advance: dict[str, float] = {}
        self.image = Image.new("L", (recipe.width, recipe.height))
        self.draw = ImageDraw.Draw(self.image)

    def __call__(self, phrase: str, dx: int = 0, dy: int = 0) -> np.ndarray:
        w = self.recipe.width
        for ch in phrase:
            if ch not in self.advance:
                self.advance[ch] = self.font.getlength(ch)
        starts = np.concatenate([[0.0], np.cumsum([self.advance[ch] for ch in phrase])])
        x0 = (w - starts[-1]) / 2 if self.recipe.align == "center" else 0.0
        x0 += dx
        pad = self.size  # italic overhang
        visible = [i for i in range(len(phrase)) if x0 + starts[i + 1] > -pad and x0 + starts[i] < w + pad]
        self.image.paste(0, (0, 0, w, self.recipe.height))
        if visible:
            first, last = visible[0], visible[-1]
            x = math.floor(x0 + starts[first])
            self.draw.text((x, math.floor(self.y0 + dy)), phrase[first:last + 1], fill=255, font=self.font)
        return np.asarray(self.image, dtype=np.uint8).copy()


def jitters(seed: int, n_fonts: int, n_phrases: int, span: tuple[int, int]) -> np.ndarray:
    """(fonts, phrases, 2) integer shifts; drawn up front so they do not depend on how work is split."""
    lo, hi = span
    if lo == hi:
        return np.zeros((n_fonts, n_phrases, 2), dtype=np.int16)
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(n_fonts, n_phrases, 2), dtype=np.int16)
