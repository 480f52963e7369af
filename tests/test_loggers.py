"""MLflow and W&B for real: a tiny run logged to a local SQLite store / W&B's offline files and read back
with the libraries' own readers; a killed run, rerun, continues the same MLflow / W&B run."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest
from conftest import TINY, compose_train, run_cli

from fwtk_lab.core.errors import ResumeError
from fwtk_lab.runs import provenance, tracking, trainer
from fwtk_lab.runs.results import hparams
from fwtk_lab.train import train

HERE = Path(__file__).resolve().parent
SMALL = ["model=cnn_rnn_small"]  # 10 training batches an epoch
LABELS = ["tags=[baseline,tiny]", "notes=a loggers test"]
# SIGKILLed after step 7 of epoch 0 (tests/killer.py); the newest checkpoint then is step 4
KILL = ["checkpoint.every_n_steps=4", "+callbacks.kill._target_=killer.KillAt", "+callbacks.kill.step=7"]
needs_mlflow = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None,
    reason="mlflow is not installed: pip install 'fwtk_lab[mlflow]' (CI must install it)",
)
needs_wandb = pytest.mark.skipif(
    importlib.util.find_spec("wandb") is None,
    reason="wandb is not installed: pip install 'fwtk_lab[wandb]' (CI must install it)",
)


def killed_run(tmp: Path, data_dir: Path, *overrides: str, env: dict | None = None) -> Path:
    """`python -m fwtk_lab.train` into tmp/run, SIGKILLed mid-epoch after a step checkpoint; returns the run dir."""
    environ = {**(env or os.environ), "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        *SMALL,
        *KILL,
        *overrides,
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        f"hydra.run.dir={tmp / 'run'}",
        env=environ,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    return tmp / "run"


def rerun(tmp: Path, data_dir: Path, *overrides: str) -> tuple[dict, Path, dict]:
    """The same run again in this process (it continues tmp/run); returns (metrics, run dir, expected params)."""
    cfg = compose_train([*SMALL, *overrides, f"paths.data_dir={data_dir}"], tmp)
    metrics = train(cfg)
    run_dir = Path(cfg.paths.run_dir)
    prov = json.loads((run_dir / "provenance.json").read_text())
    return metrics, run_dir, {**hparams(cfg), **provenance.flat(prov)}


def csv_epochs(run_dir: Path, key: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


# --- MLflow ---------------------------------------------------------------------------------------------------


def mlflow_runs(tmp: Path) -> tuple:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fwtk_lab")
    return client, client.search_runs([experiment.experiment_id])


@needs_mlflow
def test_mlflow_round_trip(tmp_path, data_dir):
    metrics, run_dir, params = rerun(tmp_path, data_dir, "logger=[mlflow,csv]", *LABELS)
    client, runs = mlflow_runs(tmp_path)
    (run,) = runs
    assert run.info.status == "FINISHED"
    assert tracking.saved(run_dir)["MLFlowLogger"]["id"] == run.info.run_id
    assert run.data.params == {k: str(v)[:250] for k, v in params.items()} and len(params) > 20
    assert run.data.params["model._target_"] == "fwtk_lab.models.cnn_rnn.CNNRNN"
    tags = run.data.tags
    assert tags["baseline"] == tags["tiny"] == "" and tags["mlflow.note.content"] == "a loggers test"
    assert tags["mlflow.runName"] == "train"
    for key in ("train/loss", "val/acc", "val/loss"):  # per epoch, the values the CSV logger got
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(csv_epochs(run_dir, key))
        assert len(history) == 2, key
    final = run.data.metrics
    assert final["hp/test_acc"] == pytest.approx(metrics["test/acc"])
    assert final["hp/test_loss"] == pytest.approx(metrics["test/loss"])
    assert final["hp/val_acc_best"] == pytest.approx(metrics["val/acc_best"])
    assert final["hp/params"] == metrics["params"]

    # the run directory's MLflow run gone from the store: one clear error at the start of fit, no traceback
    cfg = compose_train(["logger=mlflow"], tmp_path)
    store = tracking.stores(cfg.logger)
    (run_dir / tracking.IDS).write_text(json.dumps({"MLFlowLogger": {"id": "0" * 32, "store": store["MLFlowLogger"]}}))
    with pytest.raises(ResumeError, match=r"MLflow run 0{32} .* cannot be continued in sqlite:.*delete tracking.json"):
        tracking.record(run_dir, trainer.loggers(cfg), store)


@needs_mlflow
def test_mlflow_resumed_run_continues_the_same_run(tmp_path, data_dir, caplog):
    run_dir = killed_run(tmp_path, data_dir, "logger=mlflow")
    client, runs = mlflow_runs(tmp_path)
    (killed,) = runs
    assert killed.info.status == "RUNNING"  # SIGKILL: nobody ended it
    assert tracking.saved(run_dir)["MLFlowLogger"]["id"] == killed.info.run_id
    steps_before = [m.step for m in client.get_metric_history(killed.info.run_id, "train/loss_step")]
    assert steps_before and max(steps_before) <= 7

    metrics, _, params = rerun(tmp_path, data_dir, "logger=mlflow")
    assert metrics["invocations"][-1]["resumed_from"].endswith(".ckpt")  # it did resume
    _, runs = mlflow_runs(tmp_path)
    (run,) = runs  # no second run
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    assert run.data.params == {k: str(v)[:250] for k, v in params.items()}
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 2  # epoch 0 (finished after the kill), 1
    assert max(m.step for m in client.get_metric_history(run.info.run_id, "train/loss_step")) > 10
    assert run.data.metrics["hp/test_acc"] == pytest.approx(metrics["test/acc"])

    # extended by an epoch: still the same run; a param keeps its first value (MLflow refuses a change)
    metrics, _, _ = rerun(tmp_path, data_dir, "logger=mlflow", "trainer.max_epochs=3")
    _, runs = mlflow_runs(tmp_path)
    (run,) = runs
    assert run.info.run_id == killed.info.run_id and run.data.params["max_epochs"] == "2"
    assert "keeps the first value of max_epochs (" in caplog.text
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 3
    assert run.data.metrics["hp/test_acc"] == pytest.approx(metrics["test/acc"])


# --- W&B, offline ---------------------------------------------------------------------------------------------


def wandb_env(tmp: Path) -> dict:
    """Offline, quiet, and W&B's own settings and caches under tmp (not in the home directory)."""
    dirs = {f"WANDB_{k}_DIR": str(tmp / f"wandb-{k.lower()}") for k in ("CONFIG", "CACHE", "DATA")}
    return {**os.environ, **dirs, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def wandb_run(tmp: Path, data_dir: Path, *overrides: str) -> Path:
    """`python -m fwtk_lab.train logger=[wandb,csv]` offline into tmp/run (continuing it if it is there)."""
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        *SMALL,
        "logger=[wandb,csv]",
        "logger.wandb.offline=true",
        *overrides,
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        f"hydra.run.dir={tmp / 'run'}",
        env=wandb_env(tmp),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "run"


def wandb_logs(run_dir: Path) -> list[Path]:
    """The transaction logs of the run's W&B invocations, oldest first."""
    return sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))


def wandb_read(path: Path) -> dict:
    """One transaction log as {run, config, history, summary}: the run record, config and summary folded."""
    from wandb_records import items, records

    out = {"run": None, "config": {}, "history": [], "summary": {}}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
        elif kind == "config":
            out["config"].update(items(rec.config.update))
        elif kind == "history":
            out["history"].append(items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(items(rec.summary.update))
    return out


def epochs(history: list[dict], key: str) -> list[float]:
    return [row[key] for row in history if key in row]


@needs_wandb
def test_wandb_offline_round_trip(tmp_path, data_dir):
    import yaml

    proc = run_cli(  # two jobs in one process: each its own W&B run
        "fwtk_lab.train",
        "-m",
        "seed=0,1",
        *TINY,
        *SMALL,
        "logger=[wandb,csv]",
        "logger.wandb.offline=true",
        *LABELS,
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp_path / 'outputs'}",
        env=wandb_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.parent for p in (tmp_path / "outputs" / "train").glob("*/metrics.json"))
    assert len(runs) == 2 and len({tracking.saved(r)["WandbLogger"]["id"] for r in runs}) == 2
    for run_dir in runs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        (log,) = wandb_logs(run_dir)
        got = wandb_read(log)
        assert got["run"].run_id == tracking.saved(run_dir)["WandbLogger"]["id"] == log.stem.removeprefix("run-")
        assert list(got["run"].tags) == ["baseline", "tiny"] and got["run"].notes == "a loggers test"
        assert got["run"].project == "fwtk_lab" and got["run"].display_name == "train"
        params = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())  # what every logger got
        assert {k: v for k, v in got["config"].items() if k != "_wandb"} == params and len(params) > 20
        for key in ("train/loss", "val/acc", "val/loss"):  # per epoch, the values the CSV logger got
            assert epochs(got["history"], key) == pytest.approx(csv_epochs(run_dir, key)), key
        summary = got["summary"]
        assert summary["hp/test_acc"] == pytest.approx(metrics["test/acc"])
        assert summary["hp/val_acc_best"] == pytest.approx(metrics["val/acc_best"])
        assert summary["hp/params"] == metrics["params"]
        assert summary["val/acc"] == pytest.approx(metrics["val/acc_last"])


@needs_wandb
def test_wandb_resumed_run_keeps_its_id(tmp_path, data_dir):
    run_dir = killed_run(tmp_path, data_dir, "logger=[wandb,csv]", "logger.wandb.offline=true", env=wandb_env(tmp_path))
    (first,) = wandb_logs(run_dir)
    run_id = tracking.saved(run_dir)["WandbLogger"]["id"]
    assert first.name == f"run-{run_id}.wandb"  # SIGKILL: wandb-core had not flushed its records yet

    wandb_run(tmp_path, data_dir, *KILL[:1])  # the same command, less the kill
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["invocations"][-1]["resumed_from"].endswith(".ckpt")
    logs = wandb_logs(run_dir)
    assert len(logs) == 2 and logs[0] == first
    resumed = wandb_read(logs[1])
    assert resumed["run"].run_id == run_id and tracking.saved(run_dir)["WandbLogger"]["id"] == run_id
    assert len(epochs(resumed["history"], "train/loss")) == 2
    assert resumed["summary"]["hp/test_acc"] == pytest.approx(metrics["test/acc"])
