"""Never lose a run: a killed run, rerun with the same command, ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_cli

from fwtk_lab.runs.checkpoint_file import load

HERE = Path(__file__).resolve().parent
# cnn_rnn_small with dropout 0.5: 10 training batches an epoch, a step checkpoint every 4 steps.
BASE = [*TINY, "model=cnn_rnn_small", "checkpoint.every_n_steps=4", "logger=tensorboard"]


def train(tmp: Path, data_dir: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m fwtk_lab.train` with the run directory chosen by the config (no hydra.run.dir)."""
    args = [*BASE, f"paths.data_dir={data_dir}", f"paths.output_dir={tmp / 'outputs'}", *extra]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return run_cli("fwtk_lab.train", *args, env=environ)


def start_slow(tmp: Path, data_dir: Path, *extra: str) -> subprocess.Popen:
    """`python -m fwtk_lab.train` in the background, each step slowed (tests/killer.py), for signals and locks."""
    environ = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    args = [
        sys.executable,
        "-m",
        "fwtk_lab.train",
        *BASE,
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp / 'outputs'}",
        "+callbacks.slow._target_=killer.SlowSteps",
        *extra,
    ]
    return subprocess.Popen(args, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill_args(where: str, step: int) -> list[str]:
    return ["+callbacks.kill._target_=killer.KillAt", f"+callbacks.kill.where={where}", f"+callbacks.kill.step={step}"]


def only_run(tmp: Path) -> Path:
    runs = [p for p in (tmp / "outputs" / "train").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load(run / "checkpoints" / "last.ckpt")["state_dict"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Path:
    """The uninterrupted run."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    proc = train(tmp, data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(tmp)


@pytest.mark.parametrize(
    "where, step",
    [
        ("train", 2),  # before the first checkpoint: starts over
        ("train", 7),  # mid-epoch, 3 steps after a step checkpoint
        ("val", 10),  # during the first validation (the newest checkpoint is step 8)
        ("train", 11),  # just after the epoch-end checkpoint (step 10)
        ("train", 14),  # mid-epoch 2, after the epoch-end checkpoint
        ("test", 0),  # during testing, training done
    ],
)
def test_killed_run_resumes_bit_identical(where, step, reference, tmp_path, data_dir):
    killed = train(tmp_path, data_dir, *kill_args(where, step))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = only_run(tmp_path)
    assert not (run / "metrics.json").exists()
    resumed = train(tmp_path, data_dir)  # the same command (the killer is not part of the run's identity)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert only_run(tmp_path).name == run.name == reference.name  # same run directory, found from the config
    ours, theirs = final_weights(run), final_weights(reference)
    assert ours.keys() == theirs.keys()
    different = [k for k in theirs if not torch.equal(ours[k], theirs[k])]
    assert not different, different
    mine, ref = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    for key in ("test/acc", "test/loss", "val/acc_best", "global_step", "epochs"):
        assert mine[key] == ref[key], key
    first, second = mine["invocations"]  # the killed invocation never ended; the rerun did
    assert "end" not in first and second["outcome"] == "tested"


def test_finished_run_reports_and_exits_without_training(reference, data_dir):
    tmp = reference.parents[2]
    before = (reference / "metrics.json").read_text()
    proc = train(tmp, data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "finished" in proc.stdout + proc.stderr and str(reference / "metrics.json") in proc.stdout + proc.stderr
    assert (reference / "metrics.json").read_text() == before


def test_last_ckpt_is_the_newest_state_and_best_is_separate(reference):
    ckpts = reference / "checkpoints"
    last = load(ckpts / "last.ckpt")
    metrics = json.loads((reference / "metrics.json").read_text())
    assert last["global_step"] == metrics["global_step"] == 20
    best = list(ckpts.glob("best-*.ckpt"))
    assert len(best) == 1 and len(list(ckpts.glob("latest-step*.ckpt"))) == 2
    assert len(last["rng_states"]) == 1 and {"torch", "numpy", "python"} <= set(last["rng_states"][0])


def test_raised_budget_continues_the_same_run(tmp_path, data_dir):
    first = train(tmp_path, data_dir, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr[-2000:]
    run = only_run(tmp_path)
    again = train(tmp_path, data_dir, "trainer.max_epochs=2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert only_run(tmp_path) == run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 20 and [i["step_start"] for i in metrics["invocations"]] == [0, 10]


def test_resume_never_starts_beside_and_must_fails_without_checkpoint(tmp_path, data_dir):
    must = train(tmp_path, data_dir, "resume=must", "trainer=debug")
    assert must.returncode == 2 and "no checkpoint to resume" in must.stderr, must.stderr[-2000:]
    assert train(tmp_path, data_dir, "trainer=debug").returncode == 0
    never = train(tmp_path, data_dir, "trainer=debug", "resume=never")
    assert never.returncode == 0, never.stderr[-2000:]
    runs = sorted(p.name for p in (tmp_path / "outputs" / "train").iterdir())
    assert len(runs) == 2 and runs[1] == runs[0] + "-2"


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, data_dir):
    killed = train(tmp_path, data_dir, *kill_args("train", 9))
    assert killed.returncode == -signal.SIGKILL
    run = only_run(tmp_path)
    newest = run / "checkpoints" / "latest-step00000008.ckpt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated by something outside fwtk_lab
    resumed = train(tmp_path, data_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    said = resumed.stdout + resumed.stderr
    assert "latest-step00000008.ckpt" in said and "previous checkpoint" in said
    assert list((run / "checkpoints").glob("latest-step00000008.ckpt.corrupt-*"))  # kept, set aside
    assert json.loads((run / "metrics.json").read_text())["invocations"][1]["step_start"] == 4


def test_checkpoint_of_another_config_is_refused_naming_the_keys(tmp_path, data_dir, reference):
    other = reference / "checkpoints" / "last.ckpt"
    proc = train(tmp_path, data_dir, f"ckpt_path={other}", "optimizer.lr=0.01", "trainer=debug")
    assert proc.returncode == 2 and "optimizer.lr" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[
        -2000:
    ]


def test_second_process_on_the_same_run_is_refused(tmp_path, data_dir):
    first = start_slow(tmp_path, data_dir, "trainer.max_epochs=50")  # still training when the second comes
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((tmp_path / "outputs").glob("train/*/checkpoints/latest-*.ckpt")):
            time.sleep(0.5)
        second = train(tmp_path, data_dir, "trainer.max_epochs=50")
        assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr, second.stderr[-2000:]
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 75, err[-2000:]  # stopped cleanly with a checkpoint


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGUSR1"])
def test_signal_finishes_the_step_checkpoints_and_exits_75(sig, reference, tmp_path, data_dir):
    """A real signal to the process: exit 75 with a checkpoint at the step it names; the rerun ends identical."""
    proc = start_slow(tmp_path, data_dir)
    deadline = time.time() + 120
    while time.time() < deadline and not list(
        (tmp_path / "outputs").glob("train/*/checkpoints/latest-step00000004.ckpt")
    ):
        time.sleep(0.1)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: interrupted by {sig} at step ") and "rerun the same command" in line, line
    step = int(line.split(" at step ")[1].split(",")[0])
    run = only_run(tmp_path)
    assert 4 <= step < 20 and load(run / "checkpoints" / "last.ckpt")["global_step"] == step
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    resumed = train(tmp_path, data_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ours, theirs = final_weights(run), final_weights(reference)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_non_finite_loss_stops_naming_the_step_and_keeps_checkpoints(tmp_path, data_dir):
    proc = train(tmp_path, data_dir, "optimizer.lr=1e30", "optimizer=sgd")
    assert proc.returncode == 3, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: the training loss is") and "at step" in line and "optimizer.lr" in line, line
    assert "Traceback" not in proc.stderr


def test_crafted_checkpoint_is_refused_without_running_its_code(tmp_path, data_dir):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {}, "hyper_parameters": {}, "x": Boom()}, evil)
    proc = train(tmp_path, data_dir, f"ckpt_path={evil}", "trainer=debug")
    assert proc.returncode == 2 and "refused" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists()


def test_tensorboard_holds_one_history_after_a_resume(tmp_path, data_dir, reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert train(tmp_path, data_dir, *kill_args("train", 14)).returncode == -signal.SIGKILL
    assert train(tmp_path, data_dir).returncode == 0
    run = only_run(tmp_path)
    ea = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    ea.Reload()
    ref = EventAccumulator(str(reference / "tb"), size_guidance={"scalars": 0})
    ref.Reload()
    for tag in ("train/loss_step", "val/acc", "test/acc"):
        steps = [e.step for e in ea.Scalars(tag)]
        assert steps == sorted(set(steps)) == [e.step for e in ref.Scalars(tag)], tag
    assert [e.value for e in ea.Scalars("test/acc")] == [e.value for e in ref.Scalars("test/acc")]


def test_two_stops_the_first_on_an_epochs_last_batch_resume_bit_identical(reference, tmp_path, data_dir):
    """A signal during an epoch's last step stops at the epoch's end: a checkpoint written after the last
    batch but before the epoch end made Lightning 2.6 repeat the next epoch whole after a second stop
    (20 steps became 29; seen under SLURM's time limit)."""
    term = ["+callbacks.kill.sig=SIGTERM"]
    first = train(tmp_path, data_dir, *kill_args("train", 10), *term)
    assert first.returncode == 75, first.stderr[-2000:]
    second = train(tmp_path, data_dir, *kill_args("train", 19), *term)
    assert second.returncode == 75, second.stderr[-2000:]
    assert train(tmp_path, data_dir).returncode == 0
    run = only_run(tmp_path)
    steps = [(i["step_start"], i["step_end"]) for i in json.loads((run / "metrics.json").read_text())["invocations"]]
    assert steps == [(0, 10), (10, 19), (19, 20)], steps
    ours, theirs = final_weights(run), final_weights(reference)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
