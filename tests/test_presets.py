"""The everyday presets: loggers, debug modes, early stopping, rich callbacks, provenance, conf/local, experiments."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import TINY, compose_train, run_cli
from hydra import compose, initialize_config_dir
from pytorch_lightning.callbacks import EarlyStopping, RichModelSummary, RichProgressBar
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.runs import trainer
from fwtk_lab.runs.trainer import build_trainer
from fwtk_lab.train import train

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SMALL = ["model=cnn_rnn_small"]


def run_in_process(overrides: list[str], tmp: Path, data_dir: Path) -> tuple[dict, Path]:
    """Compose like the CLI (tiny data) and train in this process; returns (metrics, run dir)."""
    cfg = compose_train([f"paths.data_dir={data_dir}", *overrides], tmp)
    return train(cfg), Path(cfg.paths.run_dir)


def csv_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# --- loggers, provenance, TensorBoard layout: one real CLI run with logger=many --------------------------------


@pytest.fixture(scope="module")
def many_run(tmp_path_factory, data_dir) -> Path:
    tmp = tmp_path_factory.mktemp("many")
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        *SMALL,
        "logger=many",
        "tags=[baseline,tiny]",
        "notes=a presets test",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        f"hydra.run.dir={tmp / 'run'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


def tb_events(run_dir: Path) -> EventAccumulator:
    ea = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def test_many_gives_tensorboard_and_csv_the_same_hparams_and_final_metrics(many_run):
    metrics = json.loads((many_run / "metrics.json").read_text())
    ea = tb_events(many_run)
    session = plugin_data_pb2.HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    )
    tb_hparams = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in session.session_start_info.hparams.items()
    }
    csv_hparams = yaml.safe_load((many_run / "csv" / "hparams.yaml").read_text())
    assert set(csv_hparams) == set(tb_hparams) and len(csv_hparams) > 20
    assert csv_hparams["model._target_"] == tb_hparams["model._target_"] == "fwtk_lab.models.cnn_rnn.CNNRNN"
    final = [r for r in csv_rows(many_run) if r.get("hp/test_acc")]
    assert len(final) == 1
    for key, value in (
        ("hp/test_acc", metrics["test/acc"]),
        ("hp/val_acc_best", metrics["val/acc_best"]),
        ("hp/test_loss", metrics["test/loss"]),
    ):
        assert float(final[0][key]) == pytest.approx(value, abs=1e-6), key
        assert ea.Scalars(key)[-1].value == pytest.approx(value, abs=1e-6), key
    epochs = [r for r in csv_rows(many_run) if r.get("train/loss")]
    assert len(epochs) == 2  # one train/loss row per epoch, as in TensorBoard
    assert len(ea.Scalars("train/loss")) == 2


def test_provenance_in_run_dir_metrics_and_hparams(many_run):
    prov = json.loads((many_run / "provenance.json").read_text())
    assert "-m fwtk_lab.train" in prov["command"] and "logger=many" in prov["command"]
    assert prov["tags"] == ["baseline", "tiny"] and prov["notes"] == "a presets test"
    assert prov["git"]["commit"] is None or len(prov["git"]["commit"]) == 40
    assert prov["git"]["dirty"] in (True, False, None)
    assert prov["versions"]["torch"] and prov["versions"]["pytorch-lightning"]
    assert prov["machine"]["cpu_count"] >= 1 and prov["machine"]["torch_threads"] == 1
    assert json.loads((many_run / "metrics.json").read_text())["provenance"] == prov
    session = plugin_data_pb2.HParamsPluginData.FromString(
        tb_events(many_run).PluginTagToContent("hparams")["_hparams_/session_start_info"]
    )
    hp = session.session_start_info.hparams
    assert hp["provenance.tags"].string_value == "baseline,tiny"
    assert hp["provenance.notes"].string_value == "a presets test"
    assert hp["provenance.git.commit"].string_value == str(prov["git"]["commit"])


def test_tensorboard_custom_scalars_layout(many_run):
    ea = tb_events(many_run)
    (event,) = ea.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(tensor_util.make_ndarray(event.tensor_proto).item())
    charts = {chart.title: list(chart.multiline.tag) for cat in layout.category for chart in cat.chart}
    tags = ea.Tags()["scalars"]

    def matching(chart: str) -> set[str]:
        return {t for t in tags if any(re.search(p, t) for p in charts[chart])}

    assert matching("accuracy") == {"train/acc", "val/acc"}
    assert matching("loss") == {"train/loss", "val/loss"}
    assert matching("val") == {f"val/acc_font/{f}" for f in ("DejaVu Sans", "DejaVu Serif", "cmr10")}


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_logger_with_missing_package_names_the_extra(name, monkeypatch, tmp_path):
    cfg = compose_train([f"logger={name}"], tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(trainer.importlib.util, "find_spec", lambda pkg, *a: None if pkg == name else real(pkg, *a))
    with pytest.raises(trainer.MissingExtraError, match=rf"pip install 'fwtk_lab\[{name}\]'"):
        trainer.check_extras(cfg.logger)


def test_wandb_without_the_package_is_one_error_line_at_the_cli(tmp_path, data_dir):
    hide = tmp_path / "hide"  # wandb hidden even where it is installed (`make test` installs it)
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\n\nsys.modules['wandb'] = None  # find_spec: None\n")
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        "logger=wandb",
        f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")])},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: logger 'wandb' needs the wandb package, which is not installed: pip install 'fwtk_lab[wandb]' "
        "(or choose logger=tensorboard|csv|many|none)"
    )
    assert "Traceback" not in proc.stderr and not (tmp_path / "data").exists()  # stopped before any work


# --- callbacks ---------------------------------------------------------------------------------------------------


def test_callback_switches(tmp_path):
    def kinds(*overrides: str) -> set[type]:
        found = trainer.callbacks(compose_train(list(overrides), tmp_path), has_logger=True)
        return {kind for c in found for kind in type(c).__mro__}  # fwtk_lab's RichBar is a RichProgressBar

    shown = kinds("trainer.enable_progress_bar=true", "trainer.enable_model_summary=true")
    assert {RichProgressBar, RichModelSummary} <= shown and EarlyStopping not in shown
    assert not {RichProgressBar, RichModelSummary} & kinds()  # TINY switches the bar and summary off
    assert not {RichProgressBar} & kinds(
        "trainer.enable_progress_bar=true", "callbacks.rich_progress_bar.enabled=false"
    )
    assert EarlyStopping in kinds("callbacks.early_stopping.enabled=true")


def test_early_stopping_stops_the_run(tmp_path, data_dir):
    metrics, _ = run_in_process(
        [
            *SMALL,
            "logger=none",
            "trainer.max_epochs=6",
            "trainer.limit_train_batches=2",
            "callbacks.early_stopping.enabled=true",
            "callbacks.early_stopping.patience=1",
            "callbacks.early_stopping.min_delta=1.0",
        ],
        tmp_path,
        data_dir,
    )
    assert metrics["epochs"] == 2  # epoch 0 sets the best; epoch 1 cannot beat it by 1.0: stop


# --- debug presets -----------------------------------------------------------------------------------------------


def test_debug_fdr_runs_one_batch_with_rich_callbacks(tmp_path, data_dir):
    metrics, run_dir = run_in_process([*SMALL, "debug=fdr", "trainer.enable_progress_bar=true"], tmp_path, data_dir)
    assert metrics["global_step"] == 1 and 0.0 <= metrics["test/acc"] <= 1.0
    assert not list(run_dir.glob("checkpoints/epoch*.ckpt")) and not (run_dir / "tb").exists()  # no best, no logger


def test_debug_limit_and_its_alias_trainer_debug(tmp_path, data_dir):
    a, b = compose_train(["debug=limit"], tmp_path), compose_train(["trainer=debug"], tmp_path)
    assert a.trainer == b.trainer and a.logger == b.logger == {}
    metrics, _ = run_in_process([*SMALL, "debug=limit", "trainer.max_epochs=1"], tmp_path, data_dir)  # TINY: 2
    assert metrics["global_step"] == 5 and metrics["epochs"] == 1


def test_debug_overfit_loss_falls(tmp_path, data_dir):
    _, run_dir = run_in_process([*SMALL, "debug=overfit", "trainer.max_epochs=30"], tmp_path, data_dir)  # TINY: 2
    losses = [float(r["train/loss"]) for r in csv_rows(run_dir) if r.get("train/loss")]
    assert len(losses) == 30
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.75 * first, losses


def test_debug_profiler_writes_chrome_trace(tmp_path, data_dir):
    _, run_dir = run_in_process([*SMALL, "debug=profiler"], tmp_path, data_dir)  # >= 5 steps: the schedule exports
    traces = list((run_dir / "profiler").glob("fit-*training_step*.pt.trace.json"))
    assert traces, list((run_dir / "profiler").iterdir())
    events = json.loads(traces[0].read_text())["traceEvents"]
    assert any("conv" in str(e.get("name", "")).lower() for e in events)  # the model's ops are in the trace
    assert "Self CPU" in (run_dir / "profiler" / "fit-pytorch.txt").read_text()  # the op table


def test_profiler_simple(tmp_path, data_dir):
    _, run_dir = run_in_process([*SMALL, "debug=limit", "profiler=simple"], tmp_path, data_dir)
    report = (run_dir / "profiler" / "fit-simple.txt").read_text()
    assert "run_training_batch" in report


def test_debug_anomaly_turns_on_detect_anomaly(tmp_path, data_dir):
    cfg = compose_train([f"paths.data_dir={data_dir}", "debug=anomaly"], tmp_path)
    assert build_trainer(cfg)._detect_anomaly is True
    assert build_trainer(compose_train([], tmp_path))._detect_anomaly is False
    metrics, _ = run_in_process(
        [*SMALL, "debug=anomaly", "trainer.max_epochs=1", "trainer.limit_train_batches=2"], tmp_path, data_dir
    )
    assert metrics["global_step"] == 2


# --- every experiment, fast_dev_run ------------------------------------------------------------------------------


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_with_fast_dev_run(experiment, tmp_path, data_dir):
    metrics, _ = run_in_process([f"experiment={experiment}", "debug=fdr"], tmp_path, data_dir)
    assert metrics["global_step"] == 1 and 0.0 <= metrics["test/acc"] <= 1.0


# --- conf/local ----------------------------------------------------------------------------------------------------


def test_conf_local_is_optional_and_merged_last(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "local" / "default.yaml").unlink(missing_ok=True)
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        plain = compose("train", overrides=["experiment=series_mlp"])
    (conf / "local" / "default.yaml").write_text(
        "# @package _global_\npaths:\n  data_dir: /scratch/fonts\nthreads: 3\ndata:\n  batch_size: 7\n"
    )
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        local = compose("train", overrides=["experiment=series_mlp"])
        command_line_wins = compose("train", overrides=["data.batch_size=9"])
    assert plain.threads is None and plain.data.batch_size == 32
    assert local.paths.data_dir == "/scratch/fonts" and local.threads == 3
    assert local.data.batch_size == 7  # after the experiment in the defaults list
    assert command_line_wins.data.batch_size == 9
    assert (CONF_DIR / "local" / "default.example.yaml").exists()
