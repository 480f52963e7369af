"""DDP on CPU (gloo, 2 processes) inside a multirun: trains, validates, tests and draws figures to the end;
only rank 0 writes; the sweep starts the job once; metrics.json equals evaluate on the best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY, run_cli


def test_ddp_job_in_a_sweep_runs_to_the_end_once(tmp_path, data_dir):
    out = tmp_path / "outputs"
    proc = run_cli(
        "fwtk_lab.train",
        "-m",
        *TINY,
        "model=cnn_rnn_small",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={out}",
        "seed=0,1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((out / "train-multirun").iterdir())) == 1  # no stray sweep started by a rank-1 child
    jobs = json.loads(next((out / "train-multirun").glob("*/summary.json")).read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["finished", "finished"]
    run = Path(jobs[0]["dir"])
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(Path(j["dir"]).name for j in jobs)
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["invocations"]) == 1 and metrics["global_step"] == 5  # 300 images / 32 / 2 ranks
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) >= 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    ea.Reload()
    assert {"test/confusion_matrix", "test/predictions"} <= set(ea.Tags()["images"])

    evaluated = run_cli(
        "fwtk_lab.evaluate", f"ckpt_path={metrics['test_checkpoint']}", f"hydra.run.dir={tmp_path / 'eval'}"
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert result["test/acc"] == metrics["test/acc"]
    assert result["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)
    assert sum(map(sum, result["confusion_matrix"])) == 3 * 80  # every test image once, none padded


def test_ddp_run_interrupted_by_sigterm_resumes_bit_identical(tmp_path, data_dir):
    """SIGTERM to the launching rank: every rank stops at the same step with a checkpoint (exit 75); the
    rerun ends with the weights, metric states and per-rank RNG streams of an uninterrupted DDP run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    from fwtk_lab.runs.checkpoint_file import load

    here = Path(__file__).resolve().parent
    args = [
        *TINY,
        "model=cnn_rnn_small",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=2",
        "checkpoint.every_n_steps=2",
        f"paths.data_dir={data_dir}",
    ]
    ref = run_cli("fwtk_lab.train", *args, f"paths.output_dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-3000:]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "fwtk_lab.train", *args, f"paths.output_dir={tmp_path / 'cut'}"]
    proc = subprocess.Popen(
        [*cmd, "+callbacks.slow._target_=killer.SlowSteps", "+callbacks.slow.seconds=0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "cut").glob("train/*/checkpoints/latest-step00000002.ckpt")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 75, err[-2000:]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ours = load(next((tmp_path / "cut").glob("train/*/checkpoints/last.ckpt")))
    theirs = load(next((tmp_path / "ref").glob("train/*/checkpoints/last.ckpt")))
    assert ours["global_step"] == theirs["global_step"] == 10
    assert all(torch.equal(ours["state_dict"][k], theirs["state_dict"][k]) for k in theirs["state_dict"])
    assert len(ours["rng_states"]) == 2
