"""The progression: the faithful switches (Keras sigmoid loss, raw pixels), the train-split AIC and the report."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, compose_train, run_cli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.report.__main__ import main as report_main
from fwtk_lab.report.plot import smooth
from fwtk_lab.training import aic, losses
from fwtk_lab.training.module import FontClassifier


def test_keras_sigmoid_ce_is_normalised_sigmoids():
    """Keras 1: outputs / their sum, clipped to [1e-7, 1 - 1e-7], then -log p_true; not softmax cross-entropy."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 5, generator=g, dtype=torch.float64) * 4
    labels = torch.randint(0, 5, (64,), generator=g)
    got = losses.keras_sigmoid_ce(logits, labels, reduction="none")
    for i in range(64):
        s = [1 / (1 + np.exp(-float(v))) for v in logits[i]]
        p = min(max(s[int(labels[i])] / sum(s), 1e-7), 1 - 1e-7)
        assert float(got[i]) == pytest.approx(-np.log(p), rel=1e-9)
    assert float(losses.keras_sigmoid_ce(logits, labels, reduction="sum")) == pytest.approx(float(got.sum()))
    assert float(losses.keras_sigmoid_ce(logits, labels)) == pytest.approx(float(got.mean()))
    assert not torch.allclose(got, F.cross_entropy(logits, labels, reduction="none"))
    probs = losses.probabilities("keras_sigmoid_ce", logits)
    assert torch.allclose(probs.sum(1), torch.ones(64, dtype=torch.float64))
    assert torch.allclose(-torch.log(probs.gather(1, labels[:, None]).squeeze(1)), got)
    with pytest.raises(ValueError, match="keras_sigmoid_ce"):
        losses.get("mse")


def test_pixel_scale_one_keeps_raw_pixels(tiny_store, data_dir, tmp_path):
    cfg = compose_train([f"paths.data_dir={data_dir}", "data.pixel_scale=1"], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=0)
    dm.setup()
    images, labels = next(iter(dm.train_dataloader()))
    x, _ = dm.on_after_batch_transfer((images, labels), 0)
    assert torch.equal(x, images.float()) and float(x.max()) == 255.0


@pytest.mark.parametrize("loss", ["ce", "keras_sigmoid_ce"])
def test_train_aic_sums_the_training_split(tiny_store, data_dir, tmp_path, loss):
    cfg = compose_train([f"paths.data_dir={data_dir}", "model=cnn_rnn_small", f"loss={loss}"], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=0)
    dm.setup()
    torch.manual_seed(0)
    model = FontClassifier(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
    model.train()
    got = aic.train_aic(model, dm)
    assert model.training  # the mode is restored
    rows = np.sort(dm.rows["train"])
    images = torch.from_numpy(np.asarray(dm.store.images)[rows])[:, None].float() / 255
    labels = torch.from_numpy(np.asarray(dm.store.labels)[rows])
    model.eval()
    with torch.no_grad():
        want = float(losses.get(loss)(model(images).double(), labels, reduction="sum"))
    assert got["train/n"] == len(rows) == 300
    assert got["train/nll_sum"] == pytest.approx(want, rel=1e-6)
    assert got["train/aic"] == pytest.approx(2 * model.num_parameters + 2 * want, rel=1e-9)


def test_experiment_configs_cover_the_progression():
    """Every step on both recipes, plus the faithful recurrent steps; each names its step and series figure."""
    names = {p.stem for p in (CONF_DIR / "experiment").glob("series_*.yaml")}
    for model in ("logreg", "mlp", "size_features", "cnn", "rnn", "cnn_rnn", "cnn_rnn_small", "transformer"):
        other = "var_jitter" if model in ("logreg", "mlp", "size_features") else "fixed16"
        assert {f"series_{model}", f"series_{model}_{other}"} <= names
    assert {"series_rnn_faithful", "series_cnn_rnn_faithful", "series_cnn_rnn_small_faithful"} <= names
    assert {"series_cnn_trained", "series_cnn_rnn_trained", "series_cnn_rnn_small_trained"} <= names
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        composed = {name: compose("train", overrides=[f"experiment={name}"]) for name in names}
    for name, cfg in composed.items():
        variants = ("corrected", "faithful", "trained", "raw_pixels")
        assert cfg.series.step and cfg.series.figure and cfg.series.variant in variants
        if cfg.series.variant == "faithful":
            assert cfg.loss == "keras_sigmoid_ce" and cfg.data.pixel_scale == 1 and cfg.data.batch_size == 32
            assert cfg.trainer.max_epochs == 1 and cfg.model.cell == "keras1_lstm"
        if cfg.series.variant in ("trained", "raw_pixels"):  # beside the series' own config: the same model
            series = composed[name.removesuffix("_trained").removesuffix("_raw_pixels")]
            assert cfg.model == series.model and cfg.dataset == series.dataset, name
        if cfg.series.variant == "raw_pixels":
            assert cfg.data.pixel_scale == 1 and cfg.optimizer == series.optimizer


def test_report_on_two_tiny_runs(tmp_path, data_dir):
    """Two seeds of one experiment: one row, mean and spread over seeds, train AIC; the PNG; bad dirs exit 2."""
    runs = tmp_path / "sweep"  # a multirun: the sweep dir's summary.json lists the jobs' run directories
    proc = run_cli(
        "fwtk_lab.train",
        "-m",
        *TINY,
        "experiment=series_cnn_rnn_faithful",
        "seed=0,1",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp_path / 'outputs'}",
        f"hydra.sweep.dir={runs}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = json.loads((runs / "summary.json").read_text())["jobs"]
    metrics = [json.loads((Path(j["dir"]) / "metrics.json").read_text()) for j in jobs]
    for m in metrics:
        assert m["train/aic"] == pytest.approx(2 * m["params"] + 2 * m["train/nll_sum"])
        assert m["train/n"] == 300
    out = tmp_path / "exp" / "progression.md"
    assert report_main([str(runs), "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 6a ")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    accs = [m["test/acc"] for m in metrics]
    assert cells[1:4] == ["cnn_rnn", "var_jitter (series)", "faithful"]
    assert cells[9] == "2"  # seeds
    assert cells[11] == f"{100 * statistics.fmean(accs):.2f} ± {100 * statistics.stdev(accs):.2f}"
    assert cells[12] == f"{statistics.fmean(m['train/aic'] for m in metrics):,.0f}"
    assert "~60%" in cells[15]
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert report_main([str(tmp_path / "nothing-here")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report_main([str(empty)]) == 2


def test_learning_curves_are_smoothed_as_tensorboard_does():
    """A debiased moving average: a constant stays itself from the first point; a step is followed, not jumped."""
    assert smooth([2.0] * 5) == pytest.approx([2.0] * 5)
    out = smooth([1.0] * 10 + [0.0] * 50)
    assert out[9] == pytest.approx(1.0) and 0.0 < out[10] < 1.0 and out[-1] < 0.01
    assert all(a >= b for a, b in zip(out[10:], out[11:]))
