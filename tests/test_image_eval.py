"""A model trained on dataset=lines, run on images another renderer drew: evaluate images=DIR, calibrate, predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, TINY_FONTS, run_cli

UNSEEN = ["cmtt10", "cmss10"]  # other designs than the tiny model's three fonts


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir) -> Path:
    """One real `python -m fwtk_lab.train dataset=lines` run (cnn_rnn_small, 2 epochs, 3 fonts)."""
    tmp = tmp_path_factory.mktemp("lines_train")
    args = [*TINY, "dataset=lines", "model=cnn_rnn_small", f"paths.data_dir={data_dir}",
            f"paths.output_dir={tmp / 'out'}", f"hydra.run.dir={tmp / 'run'}", "logger=none"]  # fmt: skip
    proc = run_cli("fwtk_lab.train", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Lines drawn by matplotlib's Agg: the model's 3 fonts and 2 it never saw, 12 each."""
    from hydra import compose, initialize_config_dir

    from fwtk_lab.core.config import CONF_DIR
    from fwtk_lab.data import agg_lines

    out = tmp_path_factory.mktemp("agg") / "set"
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("agg_lines", overrides=[f"out={out}", "per_font=12", "sizes_px=[16,32,48]"])
    cfg.faces = [*TINY_FONTS, *UNSEEN]
    return agg_lines.write(cfg)


def test_training_fits_and_stores_a_temperature(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    tested = torch.load(metrics["test_checkpoint"], map_location="cpu", weights_only=True)
    t = tested["calibration"]["temperature"]
    assert 0.01 < t < 100 and t != 1.0
    assert metrics["temperature"] == t  # the tested weights' own temperature
    assert 0 <= metrics["test/ece_calibrated"] <= 1 and 0 <= metrics["test/ece"] <= 1


def test_evaluate_on_a_folder_writes_accuracy_confusion_and_calibration(run_dir, folder, tmp_path):
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    out = tmp_path / "eval"
    proc = run_cli("fwtk_lab.evaluate", f"ckpt_path={ckpt}", f"images={folder}", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["known_images"] == 12 * len(TINY_FONTS) and m["unseen_images"] == 12 * len(UNSEEN)
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["ece"] <= 1
    assert sum(map(sum, m["confusion_matrix"])) == m["known_images"]
    assert set(m["by"]["polarity"]) == {"dark", "light"} and set(m["by"]["size_px"]) == {"16", "32", "48"}
    assert m["known_flagged_unknown"] == 0.0  # no threshold chosen yet: nothing is unknown
    for name in ("predictions.csv", "confusion_matrix.png", "calibration.png"):
        assert (out / name).stat().st_size > 0, name
    assert len((out / "predictions.csv").read_text().splitlines()) == 1 + m["images"]


def test_calibrate_stores_a_threshold_that_predict_and_evaluate_use(run_dir, folder, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", ckpt)
    proc = run_cli("fwtk_lab.calibrate", f"ckpt_path={ckpt}", f"images={folder}", "known_flagged=0.1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["calibration"]
    chosen = saved["unknown_selection"]
    assert saved["unknown_threshold"] == chosen["unknown_threshold"]
    assert chosen["unseen_fonts"] == sorted(UNSEEN) and chosen["known_lines"] == 12 * len(TINY_FONTS)
    assert chosen["known_flagged"] <= 0.1 + 1 / chosen["known_lines"]
    out = tmp_path / "eval"
    proc = run_cli("fwtk_lab.evaluate", f"ckpt_path={ckpt}", f"images={folder}", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["unknown_threshold"] == saved["unknown_threshold"]
    assert abs(m["known_flagged_unknown"] - chosen["known_flagged"]) < 1e-9  # same images, same answer
    assert abs(m["unseen_flagged_unknown"] - chosen["unseen_flagged"]) < 1e-9
    image = next((folder / "images").iterdir())
    proc = run_cli("fwtk_lab.predict", f"ckpt_path={ckpt}", f"image={image}", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pred = json.loads(proc.stdout)["predictions"][0]
    assert pred["unknown"] == (pred["confidence"] < saved["unknown_threshold"])
    assert pred["top"] == ("unknown" if pred["unknown"] else max(pred["probabilities"], key=pred["probabilities"].get))


def test_folder_labels_from_sub_folders(run_dir, folder, tmp_path):
    from fwtk_lab.inference.folder import read_folder

    for i, path in enumerate(sorted((folder / "images").iterdir())[:4]):
        (tmp_path / "sub" / ("DejaVu Sans" if i % 2 else "cmr10")).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "sub" / ("DejaVu Sans" if i % 2 else "cmr10") / path.name)
    items = read_folder(tmp_path / "sub")
    assert sorted({i.label for i in items}) == ["DejaVu Sans", "cmr10"] and len(items) == 4


@pytest.mark.parametrize("case", ["not_a_folder", "bad_manifest", "calibrate_without_unseen", "bad_share"])
def test_bad_folders_are_one_clear_error(run_dir, folder, tmp_path, case):
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if case == "not_a_folder":
        proc = run_cli("fwtk_lab.evaluate", f"ckpt_path={ckpt}", f"images={tmp_path / 'nope'}")
        expect = "nope"
    elif case == "bad_manifest":
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "manifest.csv").write_text("path,label\na.png,x\n")
        proc = run_cli(
            "fwtk_lab.evaluate", f"ckpt_path={ckpt}", f"images={tmp_path / 'm'}", f"hydra.run.dir={tmp_path / 'o'}"
        )
        expect = "file and font"
    elif case == "bad_share":
        proc = run_cli("fwtk_lab.calibrate", f"ckpt_path={ckpt}", f"images={folder}", "known_flagged=0.7", cwd=tmp_path)
        expect = "known_flagged=0.7"
    else:
        only_known = tmp_path / "known"
        shutil.copytree(folder, only_known)
        rows = (only_known / "manifest.csv").read_text().splitlines()
        keep = [rows[0], *(r for r in rows[1:] if r.split(",")[1] in TINY_FONTS)]
        (only_known / "manifest.csv").write_text("\n".join(keep) + "\n")
        copy = tmp_path / "c.ckpt"
        shutil.copy(ckpt, copy)
        before = copy.read_bytes()
        proc = run_cli("fwtk_lab.calibrate", f"ckpt_path={copy}", f"images={only_known}", cwd=tmp_path)
        expect = "other fonts"
        assert copy.read_bytes() == before  # nothing written on error
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], proc.stderr
