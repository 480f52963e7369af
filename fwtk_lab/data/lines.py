"""The `lines` recipe (ours, for models that read real images): each image is a line drawn at a random size,
position, stroke, blur, noise, contrast and polarity, then put through `lineprep.normalize`, the very
preprocessing `predict` applies, and cut to a random window of the model's width.

Every random choice of an image comes from a generator seeded by (dataset seed, image index), so the
bytes do not depend on how the build is split over processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fwtk_lab.data import lineprep
from fwtk_lab.data.fonts import load


@dataclass(frozen=True)
class LinesRecipe:
    """Ranges the `lines` recipe draws from (`dataset.lines` in conf/dataset/lines.yaml)."""

    baseline: float = 12.0  # row of the baseline in the model input
    ascender: float = 11.0  # px from the ascender line to the baseline in the model input
    sizes: tuple[int, int] = (12, 64)  # font size in px, drawn log-uniformly
    chars: tuple[int, int] = (6, 32)  # characters of the phrase drawn (a random run of it)
    gamma: tuple[float, float] = (0.6, 1.6)  # coverage ** gamma: thinner or bolder anti-aliased strokes
    blur: tuple[float, float] = (0.0, 0.6)  # Gaussian sigma, in px of the model input
    noise: tuple[float, float] = (0.0, 0.06)  # Gaussian pixel noise, in units of the full range
    contrast: tuple[float, float] = (0.35, 1.0)  # ink level minus background level
    dark_ink: float = 0.5  # share of images drawn dark on light (normalize turns them back)

    def geometry(self, height: int, width: int) -> lineprep.Geometry:
        return lineprep.Geometry(height=height, width=width, baseline=self.baseline, ascender=self.ascender)

    def validate(self) -> None:
        for name in ("sizes", "chars", "gamma", "blur", "noise", "contrast"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"dataset.lines.{name}=[{lo}, {hi}] is not a range 0 <= lo <= hi")
        for name, low, ok in (
            ("sizes", "4 px or more", self.sizes[0] >= 4),
            ("chars", "1 or more", self.chars[0] >= 1),
            ("gamma", "a value above 0", self.gamma[0] > 0),
        ):
            if not ok:
                raise ValueError(f"dataset.lines.{name}={list(getattr(self, name))} must start at {low}")
        if self.contrast[1] > 1:
            raise ValueError(f"dataset.lines.contrast={list(self.contrast)} must end at 1 or less")
        if not 0 <= self.dark_ink <= 1:
            raise ValueError(f"dataset.lines.dark_ink={self.dark_ink} must be a share in [0, 1]")
        if self.ascender <= 0 or self.baseline <= 0:
            raise ValueError(f"dataset.lines.ascender={self.ascender} and baseline={self.baseline} must be positive")


def uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(span[0], span[1])) if span[1] > span[0] else float(span[0])


class LineRenderer:
    """One font under the `lines` recipe; `render(phrase, index)` -> ((H, W) uint8 image, font size)."""

    def __init__(self, path: str, recipe: LinesRecipe, height: int, width: int, seed: int):
        self.path, self.recipe, self.seed = path, recipe, seed
        self.geometry = recipe.geometry(height, width)
        self.fonts: dict[int, object] = {}

    def font(self, size: int):
        if size not in self.fonts:
            self.fonts[size] = load(self.path, size)
        return self.fonts[size]

    def draw(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """The text at a random size and sub-pixel position with random margins: (h, w) coverage in [0, 1]."""
        r = self.recipe
        lo, hi = r.sizes
        size = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi))))) if hi > lo else lo
        font = self.font(size)
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        mx, my = (int(rng.uniform(0.2, 1.0) * size) + 2 for _ in range(2))
        w, h = right - left + 2 * mx, bottom - top + 2 * my
        img = Image.new("L", (w, h), 0)
        x, y = mx - left + rng.uniform(0, 1), my - top + rng.uniform(0, 1)
        ImageDraw.Draw(img).text((x, y), text, font=font, fill=255, anchor="ls")
        return np.asarray(img, dtype=np.float32) / 255, size

    def degrade(self, c: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Stroke gamma, blur, contrast, polarity and noise, as a camera or another renderer might differ."""
        r = self.recipe
        c = c ** np.float32(uniform(rng, r.gamma))
        sigma = uniform(rng, r.blur) * size / self.geometry.ascender  # model-input px -> drawn px (about)
        if sigma > 0.05:
            img = Image.fromarray(np.clip(c * 255 + 0.5, 0, 255).astype(np.uint8))
            c = np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255
        contrast = uniform(rng, r.contrast)
        bg = rng.uniform(0, 1 - contrast)
        x = np.float32(bg) + np.float32(contrast) * c
        if rng.random() < r.dark_ink:
            x = 1.0 - x
        x = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(uniform(rng, r.noise))
        return np.round(np.clip(x, 0, 1) * 255) / 255  # an 8-bit image, as files are

    def render(self, phrase: str, index: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([self.seed, index])
        lo, hi = self.recipe.chars
        n = min(len(phrase), int(rng.integers(lo, hi + 1)))
        start = int(rng.integers(0, len(phrase) - n + 1))
        text = phrase[start : start + n].strip() or phrase.strip() or "."
        coverage, size = self.draw(text, rng)
        x = self.degrade(coverage, size, rng)
        try:
            line = lineprep.normalize(lineprep.ink_image(x), self.geometry)
        except lineprep.ImageError:  # noise drowned a tiny text: keep the clean drawing
            line = lineprep.normalize(coverage, self.geometry)
        out = np.zeros((self.geometry.height, self.geometry.width), dtype=np.float32)
        h, w = line.shape
        width = self.geometry.width
        if w <= width:
            at = int(rng.integers(0, width - w + 1))
            out[:, at : at + w] = line
        else:
            at = int(rng.integers(0, w - width + 1))
            out[:] = line[:, at : at + width]
        return np.round(out * 255).astype(np.uint8), size
