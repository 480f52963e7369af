"""`python -m fwtk_lab.predict`: font probabilities for real images of one line of text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY, TINY_FONTS, compose_train, run_cli
from omegaconf import OmegaConf
from PIL import Image, ImageDraw, ImageFont

from fwtk_lab.data.fonts import embedded_dir
from fwtk_lab.data.lineprep import read_image
from fwtk_lab.inference.classify import CheckpointError, classify, geometry_of, load_model, window_log_probs
from fwtk_lab.inference.model import Classifier
from fwtk_lab.predict import normalize_argv, predict
from fwtk_lab.training.module import FontClassifier

PHRASE = "Shall I compare thee"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, data_dir) -> Path:
    """last.ckpt of one real `python -m fwtk_lab.train` run (cnn_rnn_small, 1 epoch, no logger)."""
    tmp = tmp_path_factory.mktemp("predict_train")
    args = [
        *TINY,
        "model=cnn_rnn_small",
        "trainer.max_epochs=1",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'out'}",
        f"hydra.run.dir={tmp / 'run'}",
        "logger=none",
    ]
    proc = run_cli("fwtk_lab.train", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = tmp / "run" / "checkpoints" / "last.ckpt"
    assert path.is_file(), sorted(p.name for p in (tmp / "run").rglob("*"))
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """A 300x64 dark-on-light colour PNG (DejaVuSerif, size 40, a space in its name) and a 16x96 white-on-black PNG."""
    d = tmp_path_factory.mktemp("predict_images")
    serif = ImageFont.truetype(str(embedded_dir() / "DejaVuSerif.ttf"), 40)
    dark = Image.new("RGB", (300, 64), (240, 236, 225))
    ImageDraw.Draw(dark).text((8, 6), PHRASE, fill=(25, 20, 70), font=serif)
    sans = ImageFont.truetype(str(embedded_dir() / "DejaVuSans.ttf"), 14)
    light = Image.new("L", (96, 16))
    ImageDraw.Draw(light).text((2, 0), "thee to a day", fill=255, font=sans)
    out = {"dark": d / "dark on light.png", "light": d / "white.png"}
    dark.save(out["dark"])
    light.save(out["light"])
    return out


def classes_of(ckpt: Path) -> list[str]:
    return list(torch.load(ckpt, map_location="cpu", weights_only=False)["hyper_parameters"]["classes"])


# ---------------------------------------------------------------------------------------------- CLI


def test_json_probabilities_over_the_model_classes(ckpt, images, tmp_path):
    proc = run_cli(
        "fwtk_lab.predict",
        f"ckpt_path={ckpt}",
        f"image={images['dark']}",
        f"image={images['light']}",
        "format=json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)  # stdout holds the JSON object and nothing else
    classes = classes_of(ckpt)
    assert len(classes) == len(TINY_FONTS)
    assert out["classes"] == classes
    assert [p["image"] for p in out["predictions"]] == [str(images["dark"]), str(images["light"])]
    for pred in out["predictions"]:
        probs = pred["probabilities"]
        assert sorted(probs) == sorted(classes)
        assert abs(sum(probs.values()) - 1) < 1e-4
        assert all(0 <= p <= 1 for p in probs.values())
        assert pred["top"] == max(probs, key=probs.get)  # no unknown threshold chosen yet
        assert pred["unknown"] is False and pred["confidence"] == max(probs.values())
        assert pred["windows"] >= 1
    assert out["unknown_threshold"] is None and out["temperature"] > 0
    assert list(tmp_path.iterdir()) == [], "predict must write no files (no outputs/, .hydra/ or log)"


def test_table_lists_every_class_and_the_image(ckpt, images):
    proc = run_cli("fwtk_lab.predict", f"ckpt_path={ckpt}", f"image=[{images['light']}]", "top_k=null")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(images["light"]) in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    for name in classes_of(ckpt):
        assert name in proc.stdout
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(classes_of(ckpt)) + 1)]
    probs = [float(r[-1]) for r in rows]
    assert probs == sorted(probs, reverse=True)


@pytest.mark.parametrize("kind", ["missing", "text"])
def test_unreadable_image_is_one_error_line(ckpt, tmp_path, kind):
    bad = tmp_path / "x.png"
    if kind == "text":
        bad.write_text("not an image\n")
    proc = run_cli("fwtk_lab.predict", f"ckpt_path={ckpt}", f"image={bad}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert str(bad) in lines[0] and "PNG" in lines[0]
    assert proc.stdout == ""


def test_missing_checkpoint_is_one_error_line(images, tmp_path):
    missing = tmp_path / "nope.ckpt"
    proc = run_cli("fwtk_lab.predict", f"ckpt_path={missing}", f"image={images['light']}", "--json")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(missing) in lines[0], proc.stderr
    assert proc.stdout == ""


def test_repeated_image_arguments_become_one_list():
    argv = normalize_argv(["prog", "image=a.png", "--json", "image=[b.png,c.png]", "top_k=1", "image=d e.png"])
    from hydra.core.override_parser.overrides_parser import OverridesParser

    images = [a for a in argv if a.startswith("image=")]
    assert len(images) == 1 and "format=json" in argv and "top_k=1" in argv
    assert OverridesParser.create().parse_overrides(images)[0].value() == ["a.png", "b.png", "c.png", "d e.png"]
    assert normalize_argv(["prog", "image=a.png"]) == ["prog", "image=a.png"]


# HEAVY: what one answer must not wait for (Lightning pulls in torch._dynamo; each costs 0.1-2 s to import)
HEAVY = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "torch._dynamo", "matplotlib", "tensorboard", "rich")


def test_predict_imports_no_lightning(ckpt, images):
    """`python -m fwtk_lab.predict` answers without importing Lightning, torchmetrics, matplotlib, TensorBoard,
    rich or Hydra's launcher (start-up target: 1.5 s on 2 cores, `import torch` alone takes 1 s)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fwtk_lab.predict", f"ckpt_path={ckpt}", f"image={images['dark']}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(images["dark"]) in proc.stdout
    loaded = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"torch", "fwtk_lab.inference.model"} <= loaded  # the import log is read
    heavy = sorted(m for m in loaded if m.startswith(HEAVY) or "basic_launcher" in m or "submitit_launcher" == m)
    assert heavy == []


def test_predict_model_gives_the_font_classifier_probabilities(ckpt, images, tmp_path):
    """The Lightning-free model of a checkpoint answers exactly as FontClassifier.load_from_checkpoint,
    with the checkpoint's temperature and unknown threshold."""
    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    ck["calibration"] = {"temperature": 1.7, "unknown_threshold": 0.4}
    path = tmp_path / "calibrated.ckpt"
    torch.save(ck, path)
    light = load_model(path)
    full = FontClassifier.load_from_checkpoint(str(path), map_location="cpu").eval()
    assert type(light) is Classifier and light.classes == full.classes
    assert (light.temperature, light.unknown_threshold) == (full.temperature, full.unknown_threshold) == (1.7, 0.4)
    assert geometry_of(light) == geometry_of(full)
    for name in ("dark", "light"):
        a, b = classify(light, read_image(images[name])), classify(full, read_image(images[name]))
        assert np.array_equal(a.probabilities, b.probabilities) and (a.top, a.unknown) == (b.top, b.unknown)
    windows = np.random.default_rng(0).random((300, *full.hparams.image_shape), dtype=np.float32)  # > EVAL_CHUNK
    assert torch.equal(window_log_probs(light, windows), window_log_probs(full, windows))


def test_checkpoint_without_the_encoder_weights_is_refused(ckpt, tmp_path):
    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    ck["state_dict"] = {k: v for k, v in ck["state_dict"].items() if not k.startswith("encoder.")}
    path = tmp_path / "no_weights.ckpt"
    torch.save(ck, path)
    with pytest.raises(CheckpointError, match="does not rebuild a FontClassifier.*Missing key"):
        load_model(path)


# ---------------------------------------------------------------------------------------------- in process


def test_flat_model_reads_windows_of_its_trained_width(tmp_path, images, monkeypatch):
    """A flat (logreg) checkpoint: every window reaches the model exactly 16x64, and a blank image is an error."""
    cfg = compose_train(["model=logreg", "slicer=none"], tmp_path)
    classes = ["A", "B", "C"]
    model = FontClassifier(OmegaConf.to_container(cfg, resolve=True), classes, (16, 64))
    path = tmp_path / "flat.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": pl.__version__,
        },
        path,
    )
    seen = []
    real = Classifier.forward  # predict's model: the checkpoint's slicer and encoder, without Lightning

    def spy(self, x):
        seen.append(tuple(x.shape))
        return real(self, x)

    monkeypatch.setattr(Classifier, "forward", spy)
    out = predict(str(path), [str(images["dark"]), str(images["light"])])
    assert seen and all(shape[1:] == (1, 16, 64) for shape in seen)
    assert [p["windows"] for p in out["predictions"]] == [shape[0] for shape in seen]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in out["predictions"])
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 20), 200).save(blank)
    with pytest.raises(ValueError, match="blank.png"):
        predict(str(path), [str(blank)])


def test_series_recipes_give_their_own_geometry(tmp_path):
    """predict maps a line onto the recipe the checkpoint was trained on: fixed16 draws at size 12 (smaller
    letters than var_jitter's 16), lines says where its baseline and ascenders are."""
    from fwtk_lab.inference.classify import geometry_of

    def geometry(*overrides):
        cfg = compose_train(["model=logreg", "slicer=none", *overrides], tmp_path)
        shape = (cfg.dataset.height, cfg.dataset.width)
        return geometry_of(FontClassifier(OmegaConf.to_container(cfg, resolve=True), ["A", "B"], shape))

    var, fixed, lines = geometry(), geometry("dataset=fixed16"), geometry("dataset=lines")
    assert (var.width, fixed.width, lines.width) == (64, 128, 64)
    assert 10 <= var.ascender <= 13 and fixed.ascender < var.ascender - 1.5  # size 12 vs ~16
    assert (lines.baseline, lines.ascender) == (12.0, 11.0)
    assert 0 < fixed.baseline <= 16 and 0 < var.baseline <= 16


def test_predict_options_are_read_without_hydra_compose():
    """cli/flat_config.py: predict's `key=value` options as Hydra would set them; an unknown key names the
    accepted ones; anything else (flags, -m, +key, hydra.*, a config with groups) is left to Hydra."""
    from fwtk_lab.cli.flat_config import compose_flat
    from fwtk_lab.core.errors import ConfigError

    cfg = compose_flat("predict", ["ckpt_path=a b.ckpt", "image=[x.png,'y,z.png']", "top_k=3", "invert=false"])
    assert cfg.ckpt_path == "a b.ckpt" and list(cfg.image) == ["x.png", "y,z.png"]
    assert (cfg.top_k, cfg.invert, cfg.format, cfg.threads) == (3, False, "table", None)
    assert "hydra" not in cfg and "defaults" not in cfg
    with pytest.raises(ConfigError, match="config key fmt does not exist; the top level accepts: ckpt_path, image"):
        compose_flat("predict", ["fmt=json"])
    hydra_business = [["--cfg", "job"], ["-m", "top_k=1,2"], ["top_k=1,2"], ["+x=1"], ["~top_k"], ["hydra.verbose=1"]]
    for argv in [*hydra_business, ["top_k=[1"]]:  # an unparsable override: Hydra's path reports it (launch.parse)
        assert compose_flat("predict", argv) is None, argv
    assert compose_flat("train", []) is None  # config groups: Hydra composes
