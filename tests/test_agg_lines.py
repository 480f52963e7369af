"""fwtk_lab.data.agg_lines: test images drawn by matplotlib's Agg renderer (embedded fonts only: CI has no others)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from fwtk_lab.core.config import CONF_DIR, ConfigError
from fwtk_lab.data import agg_lines, agg_sources
from fwtk_lab.data.fonts import FontError

FONTS = ["DejaVuSans", "cmr10"]
PER_FONT = 8


def config(out: Path, **values) -> DictConfig:
    """conf/agg_lines.yaml as Hydra composes it: 2 embedded fonts, 8 images each, sizes 16 and 48."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("agg_lines", overrides=[f"out={out}", f"per_font={PER_FONT}", "sizes_px=[16,48]"])
    cfg.faces = FONTS
    for key, value in values.items():
        cfg[key] = value
    return cfg


def read_manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def luma(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=float)


def colour(hex_rgb: str) -> tuple[int, int, int]:
    return tuple(int(hex_rgb[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return agg_lines.write(config(tmp_path_factory.mktemp("agg") / "tiny"))


def test_manifest_rows_match_the_files(tiny):
    rows = read_manifest(tiny)
    assert list(rows[0]) == list(agg_lines.COLUMNS)
    assert len(rows) == len(FONTS) * PER_FONT
    assert sorted(r["file"] for r in rows) == sorted(f"images/{p.name}" for p in (tiny / "images").iterdir())
    assert [r["font"] for r in rows] == [f for f in FONTS for _ in range(PER_FONT)]
    for r in rows:
        assert Path(r["font_file"]).is_file() and Path(r["font_file"]).stem == r["font"]
        assert abs(float(r["points"]) * int(r["dpi"]) / 72 - int(r["size_px"])) < 0.01
        assert int(r["size_px"]) in (16, 48) and int(r["dpi"]) in (72, 100, 150)
        assert r["polarity"] in ("dark", "light") and r["text_source"] in ("shakespeare", "other")
        assert r["text"].isascii() and r["text"] == r["text"].strip("\n")
        if r["kind"] == "line":
            assert 20 <= len(r["text"]) <= 60
        else:
            assert r["kind"] == "snippet" and len(r["text"]) == 10
    for key, values in (("polarity", 2), ("kind", 2), ("text_source", 2), ("size_px", 2)):
        counts = [sum(r[key] == v for r in rows[:PER_FONT]) for v in {r[key] for r in rows}]
        assert len(counts) == values and set(counts) == {PER_FONT // values}, (key, counts)  # dealt evenly
    same = ("text", "size_px", "dpi", "polarity", "kind", "ink", "background")
    assert [[r[k] for k in same] for r in rows[:PER_FONT]] == [[r[k] for k in same] for r in rows[PER_FONT:]]
    assert not [p for p in tiny.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_images_have_the_stated_polarity_and_nothing_touches_the_border(tiny):
    for r in read_manifest(tiny):
        img = Image.open(tiny / r["file"])
        assert img.mode == "RGB"
        rgb, grey = np.asarray(img), luma(img)
        ring = max(1, int(0.3 * int(r["size_px"])) - 1)  # margins are >= 0.3 x size_px on each side
        border = np.ones(grey.shape, bool)
        border[ring:-ring, ring:-ring] = False
        assert (rgb[border] == colour(r["background"])).all(), r  # the whole text is inside the image
        edge = grey[border].mean()
        if r["polarity"] == "dark":
            assert edge - grey.min() >= 0.3 * 255, r
        else:
            assert grey.max() - edge >= 0.3 * 255, r


def test_ink_height_grows_with_size(tiny):
    heights: dict[int, list[float]] = {16: [], 48: []}
    for r in read_manifest(tiny):
        rgb = np.asarray(Image.open(tiny / r["file"]))
        rows = np.flatnonzero((rgb != colour(r["background"])).any(axis=2).any(axis=1))
        height = rows[-1] - rows[0] + 1
        assert 0.3 <= height / int(r["size_px"]) <= 1.6, (height, r)
        heights[int(r["size_px"])].append(height)
    assert np.mean(heights[48]) > 2 * np.mean(heights[16])


def test_same_seed_same_bytes(tiny, tmp_path):
    again = agg_lines.write(config(tmp_path / "again"))
    assert (again / "manifest.csv").read_bytes() == (tiny / "manifest.csv").read_bytes()
    for r in read_manifest(tiny):
        assert (again / r["file"]).read_bytes() == (tiny / r["file"]).read_bytes(), r["file"]


def test_unknown_font_names_it_and_what_is_accepted(monkeypatch):
    with pytest.raises(FontError) as e:
        agg_lines.resolve_fonts(["DejaVuSans", "NoSuchFontXYZ"])
    assert "'NoSuchFontXYZ'" in str(e.value) and "DejaVuSans" in str(e.value) and "embedded" in str(e.value)
    with pytest.raises(FontError, match="does not exist"):
        agg_lines.resolve_fonts(["/no/such/font.ttf"])
    # fc-match answers every name, falling back to some default family: that is refused
    dejavu = str(agg_sources.embedded_dir() / "DejaVuSans.ttf")
    monkeypatch.setattr(agg_sources, "fc_match", lambda name: ("DejaVu Sans", dejavu))
    with pytest.raises(FontError, match="falls back to 'DejaVu Sans'"):
        agg_sources.resolve_font("Liberation Serif")
    monkeypatch.setattr(agg_sources, "fc_match", lambda name: ("Liberation Serif,Liberation Serif Alt", dejavu))
    assert agg_sources.resolve_font("liberation  serif") == ("liberationserif", dejavu)


def test_existing_folder_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        agg_lines.write(config(out))
    with pytest.raises(ConfigError, match="no manifest.csv"):  # overwrite replaces only a folder this wrote
        agg_lines.write(config(out, overwrite=True))
    assert (out / "keep.txt").read_text() == "mine"
    done = agg_lines.write(config(tmp_path / "done", per_font=1, faces=["DejaVuSans"]))
    agg_lines.write(config(done, per_font=2, faces=["DejaVuSans"], overwrite=True))
    assert len(read_manifest(done)) == 2 and len(list((done / "images").iterdir())) == 2


def test_snippet_starts_at_a_word():
    rng = np.random.default_rng(0)
    line = "Now is the winter of our discontent"
    for _ in range(20):
        s = agg_sources.snippet(line, 10, rng)
        assert len(s) == 10 and s in line and s[0] != " " and s[-1] != " "
        at = line.index(s)
        assert at == 0 or line[at - 1] == " "


def test_random_colours_have_contrast():
    rng = np.random.default_rng(0)
    for polarity in ("dark", "light"):
        for _ in range(50):
            ink, bg = agg_lines.colours(polarity, True, rng)
            contrast = agg_lines.luma(bg) - agg_lines.luma(ink)
            assert (contrast if polarity == "dark" else -contrast) >= agg_lines.MIN_CONTRAST


def test_cli_writes_a_folder_and_refuses_a_bad_font(tmp_path):
    out = tmp_path / "cli"
    proc = run_cli("fwtk_lab.agg_lines", f"out={out}", "faces=[DejaVuSans,cmr10]", "per_font=2", "sizes_px=[16]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(read_manifest(out)) == 4 and len(list((out / "images").glob("*.png"))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]  # no outputs/, .hydra/ or log beside it
    bad = tmp_path / "bad"
    proc = run_cli("fwtk_lab.agg_lines", f"out={bad}", "faces=[DejaVuSans,NoSuchFontXYZ]", "per_font=2")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: font 'NoSuchFontXYZ'"), proc.stderr
    assert "Traceback" not in proc.stderr and not bad.exists()
