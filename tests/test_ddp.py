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


# a 2-epoch DDP run of 10 steps (300 images / 32 / 2 ranks a step), a step checkpoint every 2 steps
ARGS = [*TINY, "model=cnn_rnn_small", "trainer=ddp", "trainer.accelerator=cpu", "trainer.max_epochs=2"]
ARGS += ["checkpoint.every_n_steps=2"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Path:
    """The uninterrupted local 2-process run (Lightning starts rank 1): its run directory."""
    out = tmp_path_factory.mktemp("ddp_reference")
    ref = run_cli("fwtk_lab.train", *ARGS, f"paths.data_dir={data_dir}", f"paths.output_dir={out}")
    assert ref.returncode == 0, ref.stderr[-3000:]
    return next(out.glob("train/*"))


def assert_same_weights(run_dir: Path, reference: Path) -> dict:
    """The same weights (torch.equal, every tensor) and test metrics as the reference; returns our last.ckpt."""
    import torch

    from fwtk_lab.runs.checkpoint_file import load

    ours, theirs = load(run_dir / "checkpoints" / "last.ckpt"), load(reference / "checkpoints" / "last.ckpt")
    assert ours["global_step"] == theirs["global_step"] == 10
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    assert all(torch.equal(ours["state_dict"][k], theirs["state_dict"][k]) for k in theirs["state_dict"])
    mine, ref = (json.loads((r / "metrics.json").read_text()) for r in (run_dir, reference))
    for key in ("test/acc", "test/loss", "val/acc_best", "global_step"):
        assert mine[key] == ref[key], key
    return ours


def test_ddp_run_interrupted_by_sigterm_resumes_bit_identical(reference, tmp_path, data_dir):
    """SIGTERM to the launching rank: every rank stops at the same step with a checkpoint (exit 75); the
    rerun ends with the weights, metric states and per-rank RNG streams of an uninterrupted DDP run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    here = Path(__file__).resolve().parent
    args = [*ARGS, f"paths.data_dir={data_dir}"]
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
    ours = assert_same_weights(next((tmp_path / "cut").glob("train/*")), reference)
    assert len(ours["rng_states"]) == 2


def test_two_torchrun_nodes_train_bit_identical_to_the_local_ddp_run(reference, tmp_path, data_dir):
    """`torchrun --nnodes=2 --nproc_per_node=1`, one torchrun per "node" on this machine (Lightning's
    TorchElasticEnvironment; trainer.num_nodes=2 trainer.devices=1): the weights and test metrics of the local
    2-process run, bit for bit; only rank 0 writes the run's files (rank 1: no .hydra/, its own log)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        *ARGS,
        "trainer.num_nodes=2",
        "trainer.devices=1",
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={tmp_path}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    t0 = time.perf_counter()
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", f"--node_rank={rank}"]
            + ["--master_addr=127.0.0.1", f"--master_port={port}", "-m", "fwtk_lab.train", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert "MEMBER: 2/2" in outputs[1], outputs[1][-3000:]
    (run,) = (tmp_path / "train").iterdir()
    assert_same_weights(run, reference)
    assert len(json.loads((run / "status.json").read_text())["invocations"]) == 1
    assert (run / "train_rank1.log").is_file()  # rank 1's Hydra: its own log file, no .hydra/ written
    print(f"torchrun 2 nodes x 1 rank: bit-identical to the local 2-process run, {time.perf_counter() - t0:.0f} s")
