"""The original's renderer (var_data.py of the 2016 series), as a naive baseline for the data benchmark.

Per phrase and font: start at size 16, `while h < 15: font = truetype(file, size); w, h = getsize(phrase);
size += 1`, then add the offset, draw at ((64 - w) / 2 + jx, (16 - h) / 2 + jy) on a new image. Pillow's
old `getsize` measured from the top of the ascent line: today `getbbox(phrase, anchor="la")` (right, bottom);
`getoffset` is that box's (left, top). Jitter drawn per image from [lo, hi) as the original did.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def naive_image(phrase: str, path: str, jx: int, jy: int, width: int = 64, height: int = 16) -> np.ndarray:
    size, h = 16, 0
    while h < 15:
        font = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)  # reloaded at every size step
        left, top, w, h = font.getbbox(phrase, anchor="la")
        size += 1
    w, h = w + left, h + top  # getoffset
    image = Image.new("L", (width, height))
    ImageDraw.Draw(image).text(((width - w) / 2 + jx, (height - h) / 2 + jy), phrase, fill=255, font=font)
    return np.asarray(image, dtype=np.uint8)


def naive_images(phrases: list[str], fonts: list[str], jitter: tuple[int, int] = (-3, 3), seed: int = 0) -> np.ndarray:
    """(fonts x phrases, 16, 64) uint8, font-major like the cache."""
    rng = np.random.default_rng(seed)
    lo, hi = jitter
    out = np.zeros((len(fonts) * len(phrases), 16, 64), dtype=np.uint8)
    for f, path in enumerate(fonts):
        for i, phrase in enumerate(phrases):
            jx, jy = rng.integers(lo, hi, 2) if hi > lo else (0, 0)
            out[f * len(phrases) + i] = naive_image(phrase, path, int(jx), int(jy))
    return out
