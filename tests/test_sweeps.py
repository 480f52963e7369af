"""Multirun sweeps and Optuna searches: a failed job is recorded and the sweep goes on; a rerun skips
finished jobs; an interrupted search continues its persistent study."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY, run_cli
from omegaconf import OmegaConf


def sweep(tmp: Path, data_dir: Path, *args: str):
    return run_cli(
        "fwtk_lab.train",
        "-m",
        *TINY,
        "trainer=debug",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        *args,
    )


def summary(tmp: Path) -> dict:
    found = list((tmp / "outputs" / "train-multirun").glob("sweep-*/summary.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def test_failed_job_is_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    proc = sweep(tmp_path, data_dir, "dataset.max_chars=0,32")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "1 of 2 jobs failed" in proc.stderr and "Traceback" not in proc.stderr
    jobs = summary(tmp_path)["jobs"]
    assert [j["status"] for j in jobs] == ["failed", "finished"]
    assert "max_chars" in jobs[0]["error"]
    assert json.loads((Path(jobs[0]["dir"]) / "error.json").read_text())["exit_code"] == 2
    assert (Path(jobs[1]["dir"]) / "metrics.json").is_file()

    again = sweep(tmp_path, data_dir, "dataset.max_chars=0,32")  # the same command: the finished job is skipped
    assert again.returncode == 1
    assert "this run is finished" in again.stdout + again.stderr
    assert len(json.loads((Path(jobs[1]["dir"]) / "metrics.json").read_text())["invocations"]) == 1


def test_optuna_search_persists_and_continues(tmp_path, data_dir):
    args = ["hparams_search=optuna", "trainer.max_epochs=1", "logger=none", "trainer.limit_train_batches=3"]
    proc = sweep(tmp_path, data_dir, *args, "hydra.sweeper.n_trials=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = next((tmp_path / "outputs" / "train-multirun").glob("sweep-*"))
    assert (sweep_dir / "optuna.db").is_file()
    jobs = summary(tmp_path)["jobs"]
    values = [json.loads((Path(j["dir"]) / "metrics.json").read_text())["val/acc_best"] for j in jobs]
    result = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert len(values) == 2 and result.best_value == max(values)
    assert set(result.best_params) == {"optimizer.lr", "model.hidden"}  # data.batch_size is fixed by TINY

    more = sweep(tmp_path, data_dir, *args, "hydra.sweeper.n_trials=3")  # raised: one more trial, same study
    assert more.returncode == 0, more.stderr[-3000:]
    assert "has 2 finished trials; running 1 more" in more.stdout + more.stderr
    assert len(summary(tmp_path)["jobs"]) == 1


def test_joblib_launcher_jobs_build_their_datasets_with_a_process_pool(tmp_path):
    """`hydra/launcher=joblib` runs jobs in loky workers; a job that renders its dataset with 2 spawned
    build workers must not die there (loky's start method is unknown to a spawned child)."""
    proc = sweep(
        tmp_path,
        tmp_path / "data",  # not the session's: each job builds its own dataset here
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "dataset.build_workers=2",
        "dataset.max_phrases=60,61",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cannot find context" not in proc.stderr
    jobs = summary(tmp_path)["jobs"]
    assert [j["status"] for j in jobs] == ["finished", "finished"]
    assert all((Path(j["dir"]) / "metrics.json").is_file() for j in jobs)
    assert len(list((tmp_path / "data").glob("var_jitter-*"))) == 2
