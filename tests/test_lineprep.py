"""Preparing real line images (fwtk_lab/data/lineprep.py): geometry estimates, normalisation, windows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import embedded
from PIL import Image, ImageDraw, ImageFont

from fwtk_lab.data import lineprep
from fwtk_lab.data.lineprep import Geometry

FIVE = ["DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "STIXGeneral", "cmr10"]
WITH_ASCENDERS = ["Shall I compare thee to a summer's day", "the lark at break of day"]


def pillow_line(font: str, size: int, text: str, dark: bool = True) -> tuple[Image.Image, float, int]:
    """Text drawn by Pillow with its baseline at a known row: (image, true ascender height, baseline row)."""
    f = ImageFont.truetype(embedded(font), size)
    w = int(f.getlength(text)) + 2 * size
    base = 2 * size
    img = Image.new("L", (w, 3 * size), 255 if dark else 0)
    ImageDraw.Draw(img).text((size, base), text, font=f, fill=0 if dark else 255, anchor="ls")
    top = -f.getbbox("bdfhklH", anchor="ls")[1]
    return img, float(top), base


def agg_line(font: str, size_px: int, text: str) -> tuple[Image.Image, float]:
    """The same text drawn by matplotlib's Agg renderer (another rasteriser): (image, true ascender height)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    dpi = 100
    fig = Figure(figsize=(len(text) * size_px / dpi, 3 * size_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.02, 0.35, text, fontproperties=FontProperties(fname=embedded(font), size=size_px * 72 / dpi))
    canvas.draw()
    img = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    top = -ImageFont.truetype(embedded(font), size_px).getbbox("bdfhklH", anchor="ls")[1]
    return img, float(top)


@pytest.mark.parametrize("font", FIVE)
@pytest.mark.parametrize("size", [16, 24, 40, 64])
def test_scale_estimate_recovers_the_rendering_scale(font, size):
    """The ascender height (scale) read off the ink is within 10% of the font's, by Pillow and by Agg."""
    for text in WITH_ASCENDERS:
        img, true, base = pillow_line(font, size, text)
        m = lineprep.line_metrics(lineprep.ink_image(img))
        assert abs(m.ascender / true - 1) <= 0.10, (font, size, text, m.ascender, true)
        assert abs(m.baseline - base) <= 1.0
        img, true = agg_line(font, size, text)
        m = lineprep.line_metrics(lineprep.ink_image(img))
        assert abs(m.ascender / true - 1) <= 0.10, ("agg", font, size, text, m.ascender, true)


def test_lines_without_ascenders_are_estimated_from_the_x_height():
    img, true, _ = pillow_line("DejaVuSans", 48, "was never seen over a room")
    m = lineprep.line_metrics(lineprep.ink_image(img))
    assert m.baseline - m.ascender_line < lineprep.NO_ASCENDERS * (m.baseline - m.xline)  # no ascender found
    assert abs(m.ascender / true - 1) <= 0.12


@pytest.mark.parametrize("size", [16, 48])
def test_normalize_puts_baseline_and_ascenders_where_training_has_them(size):
    g = Geometry(height=16, width=64, baseline=12, ascender=11)
    img, _, _ = pillow_line("DejaVuSerif", size, WITH_ASCENDERS[0])
    line = lineprep.normalize(lineprep.ink_image(img), g)
    assert line.shape[0] == 16 and line.dtype == np.float32
    m = lineprep.line_metrics(line)
    assert abs(m.baseline - 12) <= 1.0
    assert abs(m.ascender - 11) <= 1.5
    # the same picture white on black, and dark ink in colour on a light background: the same input
    light, _, _ = pillow_line("DejaVuSerif", size, WITH_ASCENDERS[0], dark=False)
    assert np.abs(lineprep.normalize(lineprep.ink_image(light), g) - line).mean() < 0.02
    rgb = Image.merge("RGB", [img.point(lambda v: 40 + v * 0.8), img.point(lambda v: 30 + v * 0.7), img])
    assert np.abs(lineprep.normalize(lineprep.ink_image(rgb), g) - line).mean() < 0.05


def test_noise_does_not_set_the_ink_level():
    img, _, _ = pillow_line("DejaVuSans", 32, WITH_ASCENDERS[1], dark=False)
    x = np.asarray(img, dtype=np.float64) / 255 * 0.5  # ink at 0.5
    x[3, 3] = 1.0  # one hot pixel
    out = lineprep.ink_image(x)
    assert out.max() == 1.0 and np.percentile(out[x > 0.45], 50) > 0.9  # the ink, not the speck, is 1


@pytest.mark.parametrize("width", [10, 64, 65, 200, 333])
def test_windows_cover_the_line_at_the_trained_width(width):
    line = np.zeros((16, width), dtype=np.float32)
    line[4:12, :] = 1.0
    w = lineprep.windows(line, 64)
    assert w.shape[1:] == (16, 64)
    if width <= 64:
        assert len(w) == 1
        cols = np.flatnonzero(w[0].max(axis=0) > 0)
        assert abs(cols[0] - (63 - cols[-1])) <= 1  # centred
    else:
        assert len(w) == 1 + -(-(width - 64) // 32)  # every 32 px, the last flush right
        assert w[-1, 0, -1] == line[0, -1] and np.array_equal(w[-1], line[:, -64:])


def test_windows_with_little_ink_are_left_out():
    line = np.zeros((16, 256), dtype=np.float32)
    line[4:12, :200] = 1.0
    line[4:6, 250] = 1.0  # a speck at the end
    w = lineprep.windows(line, 64)
    assert all(x.sum() >= lineprep.MIN_WINDOW_INK * 64 * 8 for x in w)


def test_blank_transparent_and_bad_invert():
    rgba = Image.new("RGBA", (80, 30), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((10, 5, 60, 20), fill=(0, 0, 0, 255))  # black ink on transparency
    x = lineprep.ink_image(rgba)
    assert x.max() > 0.95 and x[:, -1].max() < 0.05
    with pytest.raises(lineprep.ImageError, match="no ink"):
        lineprep.ink_image(Image.new("RGB", (40, 12), (120, 120, 120)))
    with pytest.raises(lineprep.ImageError, match="no ink"):
        lineprep.ink_image(Image.new("L", (40, 12), 0))
    with pytest.raises(ValueError, match="invert"):
        lineprep.ink_image(rgba, invert="sometimes")
    img, _, _ = pillow_line("DejaVuSans", 20, "thee", dark=False)
    with pytest.raises(lineprep.ImageError, match="invert=true"):
        lineprep.ink_image(img, invert=True)  # white ink inverted: nothing brighter than the background
