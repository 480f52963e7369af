"""The train / evaluate entry points end to end on a tiny dataset: TensorBoard, metrics, checkpoints, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY, compose_train, run_cli
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.training.module import FontClassifier

MODELS = ["logreg", "mlp", "size_features", "cnn", "rnn", "cnn_rnn", "cnn_rnn_small", "transformer"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir) -> Path:
    """One real `python -m fwtk_lab.train` run (cnn_rnn_small, 2 epochs) on the tiny dataset."""
    tmp = tmp_path_factory.mktemp("train")
    run_dir = tmp / "run"
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        "model=cnn_rnn_small",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        f"hydra.run.dir={run_dir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def fit_quietly(cfg, **trainer_args) -> pl.Trainer:
    """Fit a FontClassifier of `cfg` on its data with a bare Trainer (no logger, checkpoints or validation)."""
    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    module = FontClassifier(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        use_distributed_sampler=False,
        **trainer_args,
    )
    trainer.fit(module, datamodule=dm)
    return trainer


@pytest.mark.parametrize("model", MODELS)
def test_each_model_learns_on_tiny_data(model, tmp_path, data_dir):
    """A few dozen steps on the tiny rendered dataset: the training loss falls.

    size_features trains on recipe 1 (fixed16): recipe 2 was made to remove exactly the size cue it reads.
    """
    lr = {"size_features": 0.1, "logreg": 0.01, "cnn_rnn_small": 0.01}.get(model, 0.003)
    steps = {"cnn_rnn_small": 400}.get(model, 60)  # 6k parameters behind dropout 0.5 sit near chance for ~150 steps
    dataset = "fixed16" if model == "size_features" else "var_jitter"
    cfg = compose_train(
        [f"model={model}", f"dataset={dataset}", f"optimizer.lr={lr}", f"paths.data_dir={data_dir}"], tmp_path
    )
    pl.seed_everything(0)
    recorder = LossRecorder()
    fit_quietly(cfg, max_steps=steps, callbacks=[recorder])
    first, last = recorder.losses[:8], recorder.losses[-8:]
    assert len(recorder.losses) == steps
    assert sum(last) / len(last) < 0.9 * sum(first) / len(first), (model, first, last)


def test_run_dir_holds_config_metrics_checkpoints(run):
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert metrics["params"] == 5997 - 2 * 17  # model 6b of the series, 3 classes: 5,997 - 2 x 17 (dense for 5 -> 3)
    assert metrics["test/aic"] == pytest.approx(2 * metrics["params"] + 2 * metrics["test/nll_sum"], rel=1e-5)
    assert set(metrics["test_acc_per_font"]) == set(metrics["classes"])
    saved = OmegaConf.load(run / "config.yaml")
    assert saved.model._target_ == "fwtk_lab.models.cnn_rnn.CNNRNN" and saved.dataset.max_phrases == 200
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and len(ckpts) >= 2
    assert not list((run / "checkpoints").glob(".*tmp"))  # atomic writes leave no temp files


def test_tensorboard_has_scalars_figures_and_hparams_with_metrics(run):
    ea = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    ea.Reload()
    tags = ea.Tags()
    for tag in (
        "train/loss_step",
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "test/acc",
        "test/loss",
        "test/aic",
        "train/device/samples_per_sec",
        "lr-Adam",
        "val/acc_font/DejaVu Sans",
    ):
        assert tag in tags["scalars"], tag
    for tag in ("test/confusion_matrix", "test/predictions", "model/first_layer_weights", "data/sample_sheet"):
        assert tag in tags["images"], tag
    plugin = ea.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/experiment"])
    metric_tags = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"hp/test_acc", "hp/test_loss", "hp/val_acc_best"} <= metric_tags
    session = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    assert session.session_start_info.hparams["model._target_"].string_value.endswith("CNNRNN")
    assert "hp_metric" not in tags["scalars"]  # no placeholder metric
    hp_acc = ea.Scalars("hp/test_acc")[-1].value
    assert hp_acc == pytest.approx(json.loads((run / "metrics.json").read_text())["test/acc"], abs=1e-6)


def test_evaluate_reproduces_the_runs_test_accuracy(run, tmp_path):
    metrics = json.loads((run / "metrics.json").read_text())
    proc = run_cli("fwtk_lab.evaluate", f"ckpt_path={metrics['test_checkpoint']}", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-7)
    assert result["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)
    assert sum(map(sum, result["confusion_matrix"])) == 3 * round(200 * 0.4)  # fonts x test phrases
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "override, expected",
    [
        (["model=nope"], ["model", "cnn_rnn", "logreg"]),
        (["dataset.widht=3"], ["widht"]),
        (["dataset.width=sixty"], ["width"]),
        (["slicer.width=6"], ["6", "64"]),
        (["model.cell=lstmx"], ["lstmx", "lstm", "gru"]),
        (["dataset.fonts=[NoSuchFont]"], ["NoSuchFont", "DejaVuSans"]),
        (["model=rnn", "slicer=none"], ["slicer=blocks"]),
    ],
)
def test_bad_config_fails_with_a_clear_message(override, expected, tmp_path, data_dir):
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        *override,
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "trainer=debug",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for word in expected:
        assert word in proc.stderr, (word, proc.stderr[-2000:])
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_checkpoints_record_their_dataset(run):
    """evaluate compares this with the dataset the run's config gives now (issue 9)."""
    from fwtk_lab.runs.dataset_record import KEY

    metrics = json.loads((run / "metrics.json").read_text())
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        recorded = torch.load(ckpt, map_location="cpu", weights_only=False)[KEY]
        assert recorded["name"] == Path(metrics["dataset"]).name and recorded["key"] in recorded["name"]
        assert recorded["classes"] == metrics["classes"]


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_cosine_with_no_t_max_spans_the_whole_run(interval, tmp_path, data_dir):
    """scheduler=cosine_steps (T_max null): the cosine runs over every optimizer step (or epoch) of the run,
    so the learning rate reaches eta_min at its end whatever the dataset size."""
    cfg = compose_train(
        ["model=logreg", "scheduler=cosine_steps", f"scheduler.interval={interval}", f"paths.data_dir={data_dir}"],
        tmp_path,
    )
    trainer = fit_quietly(cfg, max_epochs=2)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.T_max == (trainer.global_step if interval == "step" else 2) > 1
    assert scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_whole_run_cosine_is_not_stretched_on_resume(tmp_path, data_dir):
    """A finished scheduler=cosine_steps run rerun with a raised trainer.max_epochs would restore the cosine's
    old length and climb back up after it: refused with one line, the run's checkpoints left as they were."""
    args = [
        *TINY,
        "model=logreg",
        "scheduler=cosine_steps",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp_path / 'outputs'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    first = run_cli("fwtk_lab.train", *args, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run" / "checkpoints").iterdir()}
    longer = run_cli("fwtk_lab.train", *args, "trainer.max_epochs=2")
    assert longer.returncode == 2, longer.stderr[-3000:]
    assert "scheduler.T_max: null" in longer.stderr and "Traceback" not in longer.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run" / "checkpoints").iterdir()} == before
