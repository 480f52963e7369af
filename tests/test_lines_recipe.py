"""The `lines` recipe (dataset=lines): seeded per image, drawn at the geometry predict normalises to."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose_train, dataset_cfg, embedded
from omegaconf import OmegaConf

from fwtk_lab.core.config import ConfigError, LinesConfig
from fwtk_lab.data import dataset, lineprep, render_jobs
from fwtk_lab.data.lines import LineRenderer, LinesRecipe
from fwtk_lab.runs.identity import config_hash


def lines_cfg(**changes):
    """A `dataset.lines` block: the schema's defaults with `changes`."""
    return OmegaConf.merge(OmegaConf.structured(LinesConfig), changes)


PHRASES = ["Shall I compare thee to a summer's day", "Thou art more lovely and more temperate", "Rough winds do shake"]


def test_images_depend_only_on_seed_and_index():
    a = LineRenderer(embedded("DejaVuSerif"), LinesRecipe(), 16, 64, seed=3)
    b = LineRenderer(embedded("DejaVuSerif"), LinesRecipe(), 16, 64, seed=3)
    first = [a.render(p, i)[0] for i, p in enumerate(PHRASES)]
    backwards = [b.render(p, i)[0] for i, p in reversed(list(enumerate(PHRASES)))][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(first, backwards))
    other = LineRenderer(embedded("DejaVuSerif"), LinesRecipe(), 16, 64, seed=4).render(PHRASES[0], 0)[0]
    assert not np.array_equal(first[0], other)
    assert all(x.shape == (16, 64) and x.dtype == np.uint8 for x in first)


def test_images_sit_at_the_recipe_geometry_whatever_the_drawn_size():
    """Drawn anywhere from 12 to 64 px, light or dark, blurred or noisy: the baseline lands on the recipe's row."""
    recipe = LinesRecipe(chars=(32, 40))
    render = LineRenderer(embedded("DejaVuSans"), recipe, 16, 64, seed=0)
    baselines, sizes = [], []
    for i in range(40):
        img, size = render.render(PHRASES[i % 3], i)
        sizes.append(size)
        assert (
            np.percentile(img, 99) > 150 and np.median(img) < 64
        )  # white ink on black (noise stretched with the contrast)
        baselines.append(lineprep.line_metrics(img / 255.0).baseline)
    assert min(sizes) < 20 and max(sizes) > 40
    assert abs(np.median(baselines) - recipe.baseline) <= 1.0


def test_build_is_the_same_with_one_or_two_workers(tmp_path):
    cfg = dataset_cfg(name="lines", max_phrases=12, jitter=[0, 0], lines=lines_cfg(sizes=[12, 24]))
    one = dataset.prepare(cfg, tmp_path / "a")
    cfg.build_workers = 2
    two = dataset.prepare(cfg, tmp_path / "b")
    assert np.array_equal(np.asarray(one.images), np.asarray(two.images))
    assert one.manifest["lines"]["sizes"] == [12, 24]


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("sizes", [2, 8], "sizes"),
        ("blur", [1.0, 0.5], "blur"),
        ("contrast", [0.5, 1.5], "contrast"),
        ("dark_ink", 2.0, "dark_ink"),
        ("chars", [5], "chars"),
    ],
)
def test_bad_ranges_are_one_clear_error(key, value, match):
    cfg = dataset_cfg(name="lines", lines=lines_cfg(**{key: value}))
    with pytest.raises(ConfigError, match=match):
        dataset.lines_recipe_of(cfg)


def test_series_runs_keep_their_directories(tmp_path):
    """`dataset.lines` came later: unset, it is not hashed, so older runs keep their <name>-<hash> dirs."""
    cfg = compose_train([], tmp_path)
    assert cfg.dataset.lines is None
    without = OmegaConf.to_container(cfg, resolve=True)
    del without["dataset"]["lines"]  # as the config was before the key existed
    assert config_hash(cfg) == config_hash(without)
    lines = compose_train(["dataset=lines"], tmp_path)
    assert config_hash(lines) != config_hash(cfg)


def test_other_fonts_make_one_more_class(tmp_path):
    """dataset.other_fonts: a class `other` after the fonts, each phrase drawn in one of those fonts."""
    cfg = dataset_cfg(max_phrases=30, other_fonts=["cmtt10", "cmss10"])
    store = dataset.prepare(cfg, tmp_path)
    assert store.classes[-1] == dataset.OTHER and len(store.classes) == 4
    assert [f["name"] for f in store.manifest["other_fonts"]] == ["cmtt10", "cmss10"]
    labels = np.asarray(store.labels)
    assert (labels == 3).sum() == 30 and np.asarray(store.images)[labels == 3].max() > 0
    pick = render_jobs.other_assignment(cfg.seed, 30, 2)
    assert 0 < pick.sum() < 30  # both fonts draw some phrases
    plain = dataset.prepare(dataset_cfg(max_phrases=30), tmp_path)
    assert np.array_equal(np.asarray(plain.images), np.asarray(store.images)[labels < 3])  # the fonts' images unchanged
    with pytest.raises(ConfigError, match="also a class"):
        dataset.prepare(dataset_cfg(max_phrases=30, other_fonts=["cmr10"]), tmp_path)
