"""One line of text in any image -> model input drawn at the geometry a model was trained on.

`predict`, `evaluate images=DIR` and the `lines` training recipe all go through `normalize`, so a model
sees a photo, a screenshot or another renderer's line the way its training images were made:

1. greyscale (alpha composited onto the side the ink is not), inverted when the ink is darker than the
   background, contrast-stretched (background -> 0, ink -> 1): white ink on black;
2. the line's own geometry from its ink (`line_metrics`): baseline = median of the ink columns' lowest
   rows, x-line = median of their highest rows, ascender line = their 3rd percentile;
3. scaled so that ascender line -> baseline is `Geometry.ascender` px, placed with the baseline on row
   `Geometry.baseline` of a `Geometry.height` px strip (ink beyond the strip is clipped);
4. `windows` cuts the strip into windows of the trained width (half-overlapping); narrower lines are centred.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fwtk_lab.core.errors import UserError

ACCEPTED = "an image file Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...)"
INK = 0.5  # after the contrast stretch, pixels above this are ink (for the geometry)
MIN_CONTRAST = 0.05  # ink this close to the background level is no ink at all
NO_ASCENDERS = 1.2  # ascender height below this many x-heights: the line has no ascenders or capitals
ASCENDER_PER_X = 1.45  # then the ascender height is taken as this many x-heights (median of common faces)
MIN_WINDOW_INK = 0.25  # windows with less ink than this share of the inkiest window are left out


class ImageError(UserError, ValueError):
    """An image that cannot be turned into model input (blank, no contrast), said without its path."""


@dataclass(frozen=True)
class Geometry:
    """Where the text of a model's training images lies: the target of `normalize`."""

    height: int = 16  # model input height
    width: int = 64  # the window the model was trained on
    baseline: float = 12.0  # row of the baseline (the edge under the last row of a letter without descender)
    ascender: float = 11.0  # px from the ascender line to the baseline


# ---------------------------------------------------------------------------------------------- reading


def read_image(path: str | Path) -> Image.Image:
    """The image at path, decoded (first frame, EXIF orientation applied); a clear error naming the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"image {str(p)!r} does not exist; give {ACCEPTED}")
    if not p.is_file():
        raise ValueError(f"image {str(p)!r} is not a file; give {ACCEPTED}")
    try:
        with Image.open(p) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        raise ValueError(f"image {str(p)!r} is not an image file; give {ACCEPTED}") from None
    except Exception as e:  # truncated/damaged files, decompression bombs, permissions: Pillow raises many types
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise ValueError(f"image {str(p)!r} cannot be read ({reason}); give {ACCEPTED}") from None


def to_grey(img: Image.Image) -> np.ndarray:
    """(h, w) float64 luminance in [0, 1]. Transparent pixels take the background colour the ink is not."""
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):  # 16/32-bit greyscale
        a = np.asarray(img, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        scale = 1.0 if img.mode == "F" and hi <= 1.0 else (255.0 if hi <= 255 else 65535.0)
        return np.clip(a / scale, 0.0, 1.0)
    if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255
        lum = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64) / 255
        opaque = alpha > 0.5
        dark_ink = not opaque.any() or float(lum[opaque].mean()) < 0.5
        return lum * alpha + (1.0 if dark_ink else 0.0) * (1 - alpha)
    try:
        grey = img.convert("L")
    except (ValueError, OSError):  # modes without a direct conversion (e.g. HSV, LAB)
        grey = img.convert("RGB").convert("L")
    return np.asarray(grey, dtype=np.float64) / 255


def border_level(x: np.ndarray) -> float:
    """The background level: median of the outermost pixels (of every pixel for images under 3 px)."""
    if min(x.shape) < 3:
        return float(np.median(x))
    ring = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    return float(np.median(ring))


def needs_inversion(x: np.ndarray) -> bool:
    """Whether the ink is darker than the background: the darkest pixel lies farther below the border's
    level than the lightest lies above it (dark text on a light background, in any colours)."""
    bg = border_level(x)
    return bg - float(x.min()) > float(x.max()) - bg


def parse_invert(invert: object) -> bool | str:
    """auto | true | false (bools or strings) -> "auto", True or False."""
    if isinstance(invert, bool):
        return invert
    s = str(invert).strip().lower()
    if s in ("auto", "true", "false"):
        return {"true": True, "false": False}.get(s, "auto")
    raise ValueError(f"invert={invert!r}; accepted: auto, true, false")


def despeckled_max(x: np.ndarray) -> float:
    """The brightest level two vertically adjacent pixels share: the ink level, not a single noisy pixel."""
    if len(x) < 2:
        return float(x.max())
    return float(np.minimum(x[:-1], x[1:]).max())


def ink_image(img: Image.Image | np.ndarray, invert: bool | str = "auto") -> np.ndarray:
    """White ink on black in [0, 1] (float64), whatever the colours; ImageError when there is no ink."""
    mode = parse_invert(invert)
    x = img if isinstance(img, np.ndarray) else to_grey(img)
    if x.size == 0:
        raise ImageError("the image is empty (0 pixels)")
    inverted = needs_inversion(x) if mode == "auto" else mode
    if inverted:
        x = 1.0 - x
    bg, ink = border_level(x), despeckled_max(x)
    if ink - bg < MIN_CONTRAST:
        hint = "" if mode == "auto" else f" with invert={str(mode).lower()} (try invert=auto)"
        raise ImageError(
            f"no ink found{hint}: the image is blank or has no contrast (background {bg:.2f}, "
            f"brightest ink {ink:.2f} after inversion={str(bool(inverted)).lower()})"
        )
    return np.clip((x - bg) / (ink - bg), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class LineMetrics:
    """Rows (from the top of the image, px) of a line's ink: box, baseline, x-line and ascender line."""

    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive
    baseline: float
    xline: float
    ascender_line: float

    @property
    def ascender(self) -> float:
        """Ascender height in px: measured, or estimated from the x-height when the line has no ascenders."""
        x_height = max(self.baseline - self.xline, 1.0)
        measured = self.baseline - self.ascender_line
        return measured if measured >= NO_ASCENDERS * x_height else ASCENDER_PER_X * x_height


def line_metrics(x: np.ndarray) -> LineMetrics:
    """Geometry of white-on-black ink in [0, 1]; ImageError when nothing reaches the ink level."""
    mask = x > INK
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        raise ImageError("no ink found: nothing reaches half the ink level")
    rows = np.flatnonzero(mask.any(axis=1))
    m = mask[:, cols]
    tops = m.argmax(axis=0)
    bottoms = len(m) - m[::-1].argmax(axis=0)  # exclusive: the edge under each column's last ink row
    return LineMetrics(
        top=int(rows[0]),
        bottom=int(rows[-1]) + 1,
        left=int(cols[0]),
        right=int(cols[-1]) + 1,
        baseline=float(np.median(bottoms)),
        xline=float(np.median(tops)),
        ascender_line=float(np.percentile(tops, 3)),
    )


def normalize(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """White-on-black ink in [0, 1] -> (geometry.height, W) float32: the line at the trained scale and baseline."""
    m = line_metrics(x)
    s = geometry.ascender / m.ascender
    crop = x[m.top : m.bottom, m.left : m.right]
    h, w = crop.shape
    new_h, new_w = max(1, round(h * s)), max(1, round(w * s))
    if (new_h, new_w) != (h, w):
        img = Image.fromarray(crop.astype(np.float32), mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
        crop = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    y0 = round(geometry.baseline - (m.baseline - m.top) * new_h / h)  # where the crop's first row goes
    out = np.zeros((geometry.height, new_w), dtype=np.float32)
    a, b = max(y0, 0), min(y0 + new_h, geometry.height)
    if b > a:
        out[a:b] = crop[a - y0 : b - y0]
    return out


def windows(line: np.ndarray, width: int, stride: int | None = None) -> np.ndarray:
    """(N, H, width) windows over a normalised line, every `stride` px (width // 2) with the last flush
    right; a line narrower than `width` is centred in one window. Windows with little ink are left out."""
    h, w = line.shape
    if w <= width:
        out = np.zeros((1, h, width), dtype=np.float32)
        left = (width - w) // 2
        out[0, :, left : left + w] = line
        return out
    stride = stride or max(1, width // 2)
    starts = list(range(0, w - width + 1, stride))
    if starts[-1] != w - width:
        starts.append(w - width)
    out = np.stack([line[:, s : s + width] for s in starts]).astype(np.float32)
    ink = out.sum(axis=(1, 2))
    return out[ink >= MIN_WINDOW_INK * ink.max()]


def line_windows(img: Image.Image | np.ndarray, geometry: Geometry, invert: bool | str = "auto") -> np.ndarray:
    """Any image of one line -> (N, H, W) float32 windows in [0, 1], white ink on black."""
    return windows(normalize(ink_image(img, invert), geometry), geometry.width)
