"""Rendering recipes: the series' size rule and placement, our ascenders rule, jitter, the visible-window trick."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_FONTS, dataset_cfg, embedded
from PIL import Image, ImageDraw, ImageFont

from fwtk_lab.data import dataset, render

FIVE = ["DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "STIXGeneral", "cmr10"]
VAR_JITTER = render.Recipe()
FIXED16 = render.Recipe(width=128, font_size=12, fit_height=None, jitter=(0, 0))


def original_rule(path: str, phrase: str, recipe: render.Recipe, jx: int, jy: int):
    """The series' var_data.py / fixed_data.py, written out again with Pillow's own getbbox: (size, x, y, font)."""
    size, h = recipe.font_size, 0
    while True:  # var_data.py: while h < 15: font = truetype(f, size); w, h = font.getsize(p); size += 1
        font = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
        left, top, w, h = font.getbbox(phrase, anchor="la")  # getsize of 2016: from the top of the ascent line
        size += 1
        if recipe.fit_height is None or h >= recipe.fit_height:
            break
    w, h = w + left, h + top  # ow, oh = font.getoffset(p); w += ow; h += oh
    return size - 1, int((recipe.width - w) / 2 + jx), int((recipe.height - h) / 2 + jy), font


def draw_whole(font, phrase: str, x: float, y: float, width: int, height: int) -> np.ndarray:
    image = Image.new("L", (width, height))
    ImageDraw.Draw(image).text((x, y), phrase, fill=255, font=font)
    return np.asarray(image)


def sample(phrases: list[str], n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [phrases[i] for i in rng.choice(len(phrases), size=min(n, len(phrases)), replace=False)]


# ------------------------------------------------------------------------------------- 3. recipe invariants


def test_var_jitter_images(tiny_store):
    images = np.asarray(tiny_store.images)
    n = len(TINY_FONTS) * 200
    assert images.dtype == np.uint8 and images.shape == (n, 16, 64)
    assert tiny_store.classes == ["DejaVu Sans", "DejaVu Serif", "cmr10"]
    counts = np.bincount(images.ravel(), minlength=256)
    assert counts.argmax() == 0 and images.max() == 255
    assert (images.reshape(n, -1).max(1) > 0).all()  # every image has ink
    assert np.array_equal(np.asarray(tiny_store.labels), np.repeat(np.arange(3), 200))
    assert np.array_equal(np.asarray(tiny_store.phrase_ids), np.tile(np.arange(200), 3))


def test_jitters():
    j = render.jitters(7, 3, 200, (-3, 3))
    assert j.shape == (3, 200, 2)
    assert j.min() == -3 and j.max() == 2
    assert set(np.unique(j).tolist()) == {-3, -2, -1, 0, 1, 2}
    assert np.array_equal(j, render.jitters(7, 3, 200, (-3, 3)))
    assert not np.array_equal(j, render.jitters(8, 3, 200, (-3, 3)))
    z = render.jitters(7, 3, 200, (0, 0))
    assert z.shape == (3, 200, 2) and not z.any()


@pytest.mark.parametrize("font", ["DejaVuSans", "DejaVuSerif-Italic", "cmr10"])
def test_jitter_shifts_the_image(font):
    r = render.Renderer(embedded(font), render.Recipe())
    for phrase in ("Now, fair Hippolyta, our nuptial", "Go, Philostrate"):
        a, right, down = r(phrase, 0, 0), r(phrase, 1, 0), r(phrase, 0, 1)
        assert a.any() and not np.array_equal(a, right)
        assert np.array_equal(right[:, 4:60], a[:, 3:59])
        assert np.array_equal(down[4:13], a[3:12])
        assert np.array_equal(r(phrase, 0, 0), a)  # the reused canvas is cleared between calls


def test_fixed16_is_centred(data_dir):
    s = dataset.prepare(
        dataset_cfg(width=128, max_chars=16, font_size=12, fit_height=None, jitter=[0, 0], name="fixed16"), data_dir
    )
    images = np.asarray(s.images)
    assert images.shape == (600, 16, 128) and images.dtype == np.uint8
    assert all(len(p) == 16 for p in s.phrases())
    cols = (images > 0).any(axis=1)
    centres = []
    for row in cols:
        nz = np.flatnonzero(row)
        if len(nz) and nz[0] > 0 and nz[-1] < 127:
            centres.append((nz[0] + nz[-1] + 1) / 2)
    centres = np.array(centres)
    assert len(centres) > 300
    assert (np.abs(centres - 64) <= 2).mean() > 0.7


@pytest.mark.parametrize("recipe", [VAR_JITTER, FIXED16], ids=["var_jitter", "fixed16"])
@pytest.mark.parametrize("font", FIVE)
def test_original_rule_sizes_and_positions(tiny_store, font, recipe):
    """Sizes, positions and pixels equal the series' rule computed independently (Pillow's getbbox, whole phrase)."""
    path = embedded(font)
    r = render.Renderer(path, recipe)
    rng = np.random.default_rng(1)
    cut = 32 if recipe.width == 64 else 16
    for phrase in sample(tiny_store.phrases(), 40):
        phrase = phrase[:cut]
        jx, jy = (int(v) for v in rng.integers(-3, 3, 2)) if recipe.jitter != (0, 0) else (0, 0)
        size, x, y, ref_font = original_rule(path, phrase, recipe, jx, jy)
        got_size, got_x, got_y, _ = r.place(phrase, jx, jy)
        assert (got_size, got_x, got_y) == (size, x, y), phrase
        want = draw_whole(ref_font, phrase, x, y, recipe.width, recipe.height)
        image, used = r.render(phrase, jx, jy)
        assert used == size and np.array_equal(image, want), phrase


def test_stored_images_follow_the_original_rule(tiny_store):
    """The built cache (jitter drawn from the seed) holds exactly what the rule draws, for sampled rows."""
    images = np.asarray(tiny_store.images)
    phrases = tiny_store.phrases()
    shifts = render.jitters(0, len(TINY_FONTS), len(phrases), (-3, 3))
    rng = np.random.default_rng(2)
    for label, font in enumerate(TINY_FONTS):
        for i in rng.choice(len(phrases), size=15, replace=False):
            jx, jy = int(shifts[label, i, 0]), int(shifts[label, i, 1])
            size, x, y, ref_font = original_rule(embedded(font), phrases[i], VAR_JITTER, jx, jy)
            assert np.array_equal(images[label * len(phrases) + i], draw_whole(ref_font, phrases[i], x, y, 64, 16))
    sizes = tiny_store.manifest["font_sizes"]
    assert [sum(s.values()) for s in sizes] == [len(phrases)] * len(TINY_FONTS)
    assert all(min(map(int, s)) >= 16 for s in sizes)


@pytest.mark.parametrize("font", FIVE)
def test_no_ascender_row_cut_at_zero_jitter(tiny_store, font):
    """At zero jitter the series' placement keeps the whole ascent: nothing is drawn above the image's top row."""
    r = render.Renderer(embedded(font), render.Recipe(jitter=(0, 0)))
    pad = 16
    tall = render.Recipe(height=16 + 2 * pad, jitter=(0, 0))
    phrases = [p for p in tiny_store.phrases() if any(ch in p for ch in render.ASCENDERS)]
    assert len(phrases) > 100
    for phrase in phrases:
        size, x, y, _ = r.place(phrase)
        canvas = draw_whole(r.at(size).font, phrase, x, y + pad, tall.width, tall.height)
        assert canvas.any(), phrase
        assert not canvas[:pad].any(), (phrase, size, y)  # no ink above row 0 of the 16-row image


@pytest.mark.parametrize("rule", ["original", "ascenders"])
@pytest.mark.parametrize("font", ["DejaVuSans", "DejaVuSerif-Italic", "STIXGeneralBolIta", "cmti10"])
def test_visible_window_trick_is_pixel_identical(tiny_store, font, rule):
    """Drawing only the characters that reach the window gives the pixels of drawing the whole phrase."""
    recipe = render.Recipe(size_rule=rule)
    r = render.Renderer(embedded(font), recipe)
    rng = np.random.default_rng(3)
    for phrase in sample(tiny_store.phrases(), 60, seed=4):
        jx, jy = (int(v) for v in rng.integers(-3, 3, 2))
        size, x, y, starts = r.place(phrase, jx, jy)
        assert np.array_equal(r(phrase, jx, jy), draw_whole(r.at(size).font, phrase, x, y, 64, 16)), phrase
        assert r.at(size).bbox(phrase) == r.at(size).font.getbbox(phrase, anchor="la")


def test_ascenders_rule_is_one_size_per_font(tiny_store):
    """Ours, kept as an option: one size per font, grown until `bdfhklH` stand fit_height px above the baseline."""
    recipe = render.Recipe(size_rule="ascenders")
    for font in FIVE:
        r = render.Renderer(embedded(font), recipe)
        sizes = {r.place(p)[0] for p in tiny_store.phrases()[:50]}
        assert sizes == {render.fitted_size(embedded(font), recipe)}
        size = sizes.pop()
        tall = -r.at(size).font.getbbox(render.ASCENDERS, anchor="ls")[1]
        shorter = -render.load(embedded(font), size - 1).getbbox(render.ASCENDERS, anchor="ls")[1]
        assert tall >= 15 and (size == 16 or shorter < 15)
    with pytest.raises(ValueError, match="size_rule"):
        render.Recipe(size_rule="biggest").validate()
