"""SLURM's signals without a cluster: the start-up guard for the time-limit signal, who owns the signals,
and what an interrupted run does outside submitit (tests/cluster/ runs the real thing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from fwtk_lab.core import slurm_env
from fwtk_lab.runs import slurm
from fwtk_lab.runs.preemption import Interrupted, Preemption

SUBMITIT_JOB = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "1"}


def python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})


def test_time_limit_signal_during_the_imports_of_a_submitit_job_is_recorded_not_fatal():
    code = (
        "import os, signal, fwtk_lab\n"
        "os.kill(os.getpid(), signal.SIGUSR2)\n"
        "from fwtk_lab.core import slurm_env\n"
        "print(slurm_env.take_early_signal() == signal.SIGUSR2, slurm_env.take_early_signal())\n"
    )
    proc = python(code, SUBMITIT_JOB)
    assert proc.returncode == 0 and proc.stdout.split() == ["True", "None"], proc.stderr
    outside = python(code, {"SUBMITIT_EXECUTOR": ""})  # elsewhere SIGUSR2 keeps its default action
    assert outside.returncode == -signal.SIGUSR2


def test_preemption_catches_the_time_limit_signal_in_a_submitit_job(monkeypatch):
    for k, v in SUBMITIT_JOB.items():
        monkeypatch.setenv(k, v)
    assert signal.SIGUSR2 in Preemption(["SIGTERM"]).signals
    slurm_env.EARLY_SIGNALS.append(signal.SIGUSR2)  # before the run's handler: the run stops as it installs
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}
    try:
        with pytest.raises(Interrupted) as e:
            Preemption(["SIGTERM"]).install()
        assert e.value.signum == signal.SIGUSR2
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def test_a_repeated_signal_under_slurm_is_not_a_second_signal(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    p = Preemption(["SIGTERM"])
    p.training = True
    p._handle(signal.SIGTERM, None)
    p._handle(signal.SIGTERM, None)  # slurmstepd and srun both send it: ignored
    with pytest.raises(Interrupted):
        p._handle(signal.SIGINT, None)


def test_outside_training_only_rank_zero_acts_on_the_time_limit_signal(monkeypatch):
    """A 2-node DDP job signalled after training (CI: rank 0 had finished, rank 1 stopped by itself, and the
    job failed): a rank > 0 records the signal and goes on; rank 0 stops (and requeues); in training every
    rank waits for the step's end; SIGTERM (SLURM ending the job) stops any rank."""
    for k, v in {**SUBMITIT_JOB, "SLURM_PROCID": "1"}.items():
        monkeypatch.setenv(k, v)
    rank1 = Preemption(["SIGTERM"])
    rank1._handle(signal.SIGUSR2, None)  # testing, say: carries on
    assert rank1.received == signal.SIGUSR2
    with pytest.raises(Interrupted):
        rank1._handle(signal.SIGTERM, None)
    training = Preemption(["SIGTERM"])
    training.training = True
    training._handle(signal.SIGUSR2, None)  # stops at the end of the step, with the others
    monkeypatch.setenv("SLURM_PROCID", "0")
    with pytest.raises(Interrupted) as e:
        Preemption(["SIGTERM"])._handle(signal.SIGUSR2, None)
    assert e.value.signum == signal.SIGUSR2


def test_a_first_signal_once_tested_ends_the_run_and_stops_the_next_one():
    """After the test the run writes its results and ends; the signal is kept for the next run of the same
    process (a local sweep's next job), which stops as its handler is installed."""
    done = Preemption(["SIGTERM"])
    done.tested = True
    done._handle(signal.SIGTERM, None)  # no exception: the results get written
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Interrupted) as e:
            Preemption(["SIGTERM"]).install()
        assert e.value.signum == signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, old)
        slurm_env.EARLY_SIGNALS.clear()
    with pytest.raises(Interrupted):
        done._handle(signal.SIGINT, None)  # a second signal stops at once


def test_outside_submitit_an_interrupted_run_exits_75(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    assert slurm.after_interrupt(Interrupted(signal.SIGUSR2), None) == slurm.EXIT
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm.cluster_plugins() == []


def test_a_submitit_job_holds_sigterm_and_the_time_limit_signal_until_the_run_takes_them():
    code = (
        "import os, signal\n"
        "from fwtk_lab.core import slurm_env\n"
        "signal.signal(signal.SIGUSR2, lambda s, f: print('submitit'))\n"
        "slurm_env.hold_signals()\n"
        "os.kill(os.getpid(), signal.SIGTERM); os.kill(os.getpid(), signal.SIGUSR2)\n"
        "print(slurm_env.take_early_signal() == signal.SIGTERM)\n"
    )
    proc = python(code, SUBMITIT_JOB)
    assert proc.returncode == 0 and proc.stdout.split() == ["True"], proc.stdout + proc.stderr


def test_only_global_rank_zero_writes_whoever_started_the_ranks(monkeypatch):
    from fwtk_lab.runs.identity import RANK_VARIABLES, env_rank_zero

    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert env_rank_zero()
    for name, value in [("SLURM_PROCID", "1"), ("RANK", "1"), ("LOCAL_RANK", "1"), ("GROUP_RANK", "1")]:
        monkeypatch.setenv(name, value)  # srun's task 1 (on node 2: SLURM_LOCALID=0), torchrun's rank 1, ...
        assert not env_rank_zero(), name
        monkeypatch.setenv(name, "0")
    assert env_rank_zero()


def test_trainer_num_nodes_enters_a_run_dir_only_when_more_than_one(tmp_path):
    from conftest import compose_train
    from omegaconf import OmegaConf

    from fwtk_lab.runs.identity import config_hash

    cfg = compose_train([], tmp_path)
    assert cfg.trainer.num_nodes == 1
    before = OmegaConf.to_container(cfg, resolve=True)
    del before["trainer"]["num_nodes"]  # a run made before the key existed keeps its directory
    assert config_hash(cfg) == config_hash(before)
    assert config_hash(compose_train(["trainer.num_nodes=2"], tmp_path)) != config_hash(cfg)


def test_an_invocation_stopped_before_training_is_recorded_at_the_newest_checkpoint(tmp_path):
    import json
    import time

    from fwtk_lab.runs import fit, resume

    (tmp_path / "checkpoints").mkdir()
    for name in ("latest-step00000004.ckpt", "latest-step00000009.ckpt", "last.ckpt"):
        (tmp_path / "checkpoints" / name).write_bytes(b"")
    done = {"step_start": 0, "step_end": 9, "outcome": "requeued", "pid": 1}
    running = {"step_start": 9, "pid": os.getpid()}  # written as "running" just before the signal
    resume.write_status(tmp_path, {"status": "running", "invocations": [done, running]})
    started = {"start": "2026-01-01T00:00:00+00:00", "t0": time.perf_counter()}
    fit.record_before_training(tmp_path, {"max_epochs": 2}, started, Interrupted(signal.SIGUSR2))
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "interrupted"
    first, this = status["invocations"]
    assert first == done
    assert (this["step_start"], this["step_end"], this["outcome"]) == (9, 9, "interrupted")
    assert this["before_training"] and this["pid"] == os.getpid()
