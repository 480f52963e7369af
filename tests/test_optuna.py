"""The Optuna search on our sweeper (hydra_plugins/fwtk_lab_optuna): n_trials counts the whole study, failed
trials are FAIL, interrupted ones run again, pruned trials are PRUNED and their runs never resumed, and
optuna-dashboard shows the study."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TINY, run_cli

optuna = pytest.importorskip("optuna", minversion="4", reason="the `sweep` extra (optuna>=4) is not installed")
TrialState = optuna.trial.TrialState


def test_sweep_syntax_becomes_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from hydra_plugins.fwtk_lab_optuna._search_space import SearchSpaceError, parse

    space, fixed = parse(
        [
            "optimizer.lr=tag(log, interval(0.0003, 0.01))",
            "optimizer.weight_decay=interval(0, 0.1)",
            "model.hidden=int(interval(8, 64))",
            "model.layers=range(1, 8, 3)",
            "data.batch_size=choice(32, 64)",
            "model=cnn,rnn",
            "data.batch_size=16",  # a later fixed value replaces the search of that key (a command-line value)
            "+optuna.trial=3",
        ]
    )
    assert space == {
        "optimizer.lr": FloatDistribution(0.0003, 0.01, log=True),
        "optimizer.weight_decay": FloatDistribution(0.0, 0.1),
        "model.hidden": IntDistribution(8, 64),
        "model.layers": IntDistribution(1, 7, step=3),
        "model": CategoricalDistribution(["cnn", "rnn"]),
    }
    assert fixed == {"data.batch_size": "16", "+optuna.trial": "3"}
    assert parse(["model.sizes=choice([1,2],3)"])[0]["model.sizes"] == CategoricalDistribution(["[1,2]", 3])
    with pytest.raises(SearchSpaceError, match=r"model.layers=range\(3, 3\): an empty sweep"):
        parse(["model.layers=range(3, 3)"])


def search(sweep_dir: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m fwtk_lab.train -m hparams_search=optuna` on the tiny dataset, a few batches per epoch."""
    return run_cli(
        "fwtk_lab.train",
        "-m",
        "hparams_search=optuna",
        *TINY,
        "trainer=debug",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={sweep_dir.parent / 'outputs'}",
        f"hydra.sweep.dir={sweep_dir}",
        *args,
    )


def load(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="train", storage=f"sqlite:///{sweep_dir}/optuna.db")


def test_the_study_counts_all_trials_fails_go_on_and_interrupted_ones_run_again(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = search(sweep_dir, data_dir, "hydra.sweeper.n_trials=3", "dataset.max_chars=choice(0,32)")
    assert proc.returncode == 1, proc.stderr[-3000:]  # a failed trial: the sweep summary exits 1, the search went on
    trials = load(sweep_dir).trials
    assert len(trials) == 3
    by_state = {s: [t for t in trials if t.state == s] for s in (TrialState.COMPLETE, TrialState.FAIL)}
    assert by_state[TrialState.FAIL] and by_state[TrialState.COMPLETE], [(t.state, t.params) for t in trials]
    assert all(t.params["dataset.max_chars"] == 0 for t in by_state[TrialState.FAIL])
    for t in by_state[TrialState.COMPLETE]:
        assert t.params["dataset.max_chars"] == 32 and 0 <= t.value <= 1
    jobs = json.loads((sweep_dir / "summary.json").read_text())["jobs"]
    values = {json.loads((Path(j["dir"]) / "metrics.json").read_text())["val/acc_best"] for j in jobs if not j["error"]}
    assert values == {t.value for t in by_state[TrialState.COMPLETE]}

    # a search killed during a trial leaves it RUNNING: the rerun queues its parameters again (its run resumes)
    study = load(sweep_dir)
    done = by_state[TrialState.COMPLETE][0]
    study.enqueue_trial(done.params)
    killed = study.ask(done.distributions)
    assert killed.params == done.params

    # n_trials raised by 2: the queued trial and a new one, as one batch of 2 joblib workers
    parallel = [
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    ]
    again = search(sweep_dir, data_dir, *parallel, "dataset.max_chars=choice(0,32)")
    out = again.stdout + again.stderr
    assert again.returncode in (0, 1), out[-3000:]  # 1 when the new trial drew max_chars=0
    assert "has 3 finished trials (1 interrupted ones queued again); running 2 more" in out, out[-3000:]
    trials = load(sweep_dir).trials
    assert len(trials) == 6 and trials[killed.number].state == TrialState.FAIL
    assert trials[killed.number].user_attrs["interrupted"] is True
    assert trials[-1].state in (TrialState.COMPLETE, TrialState.FAIL)
    retry = trials[-2]
    assert retry.params == done.params and retry.user_attrs["retry_of"] == killed.number
    assert retry.state == TrialState.COMPLETE and retry.value == done.value
    assert "this run is finished" in out  # the same parameters, the same run directory: reported, not retrained


PRUNED_ARGS = (
    "trainer.max_epochs=3",
    "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
    "~hydra.sweeper.pruner.n_startup_trials",
    "+hydra.sweeper.pruner.lower=1.01",  # val/acc is never above it: every trial is pruned once warmed up
    "hydra.sweeper.pruner.n_warmup_steps=1",
)


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory, data_dir) -> Path:
    """A 2-trial search whose pruner prunes every trial after its second epoch (val/acc < 1.01); its sweep dir."""
    sweep_dir = tmp_path_factory.mktemp("pruned") / "sweep"
    proc = search(sweep_dir, data_dir, *PRUNED_ARGS, "hydra.sweeper.n_trials=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep_dir


def test_pruned_trials_stop_early_and_their_runs_are_not_resumed(pruned_search, data_dir):
    trials = load(pruned_search).trials
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED]
    for t in trials:
        assert sorted(t.intermediate_values) == [0, 1] and t.user_attrs["pruned_epoch"] == 1
    jobs = json.loads((pruned_search / "summary.json").read_text())["jobs"]
    run_dir = Path(jobs[0]["dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["pruned"] == {"study": "train", "trial": 0, "epoch": 1}
    assert metrics["epochs"] == 2  # of trainer.max_epochs=3
    assert json.loads((run_dir / "status.json").read_text())["status"] == "pruned"

    # the trial's run, rerun as a single run (without the sweep): reported as pruned, not resumed
    overrides = [o for o in jobs[0]["overrides"] if not o.startswith(("+optuna.", "hparams_search="))]
    proc = run_cli("fwtk_lab.train", *overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "this run was pruned by Optuna (study train, trial 0, after epoch 1)" in proc.stdout + proc.stderr
    assert len(json.loads((run_dir / "metrics.json").read_text())["invocations"]) == 1

    # the study continued with a trial of the same parameters: its job finds the pruned run, the trial is PRUNED
    load(pruned_search).enqueue_trial(trials[0].params)
    more = search(pruned_search, data_dir, *PRUNED_ARGS, "hydra.sweeper.n_trials=3")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "has 2 finished trials; running 1 more" in more.stdout + more.stderr
    assert [t.state for t in load(pruned_search).trials] == [TrialState.PRUNED] * 3
    assert len(json.loads((run_dir / "metrics.json").read_text())["invocations"]) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_optuna_dashboard_lists_the_trials(pruned_search):
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard (the `dashboard` extra) is not installed")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("optuna-dashboard", path=path)
    if exe is None:
        pytest.skip("the optuna-dashboard command is not on PATH")
    port = free_port()
    url = f"sqlite:///{pruned_search}/optuna.db"
    server = subprocess.Popen(
        [exe, url, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stdout.read().decode()[-3000:]) from None
                time.sleep(0.5)
        assert [s["study_name"] for s in studies] == ["train"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
        expected = {t.number: t for t in load(pruned_search).trials}
        assert sorted(t["number"] for t in detail["trials"]) == sorted(expected)
        assert {t["state"] for t in detail["trials"]} == {"Pruned"}
        reported = [t for t in detail["trials"] if t["intermediate_values"]]  # trained (not found pruned) trials
        assert len(reported) >= 2
        for t in reported:
            assert t["values"] == pytest.approx(expected[t["number"]].values)
            assert [v["step"] for v in t["intermediate_values"]] == sorted(expected[t["number"]].intermediate_values)
    finally:
        server.terminate()
        server.wait(timeout=30)
