"""hydra/launcher=slurm on a real SLURM cluster (.ci/cluster): the time limit and preemption checkpoint
the run, the job is requeued and resumes; the result is bit-identical to an uninterrupted local run."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import torch
from cluster import (
    LAUNCHER,
    job_env,
    job_logs,
    only_run,
    run,
    slurm_cluster,  # noqa: F401  (the session fixture)
    train_cmd,
    wait_for,
)
from conftest import TINY

from fwtk_lab.runs.checkpoint_file import load

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]
# tests/test_resume.py's run: 10 training batches an epoch, 2 epochs, a step checkpoint every 4 steps
BASE = [*TINY, "model=cnn_rnn_small", "checkpoint.every_n_steps=4", "logger=tensorboard"]


def slow(seconds: float, first_run_only: bool = False) -> list[str]:
    """Each training step `seconds` longer (first_run_only: until SLURM requeues the job)."""
    args = ["+callbacks.slow._target_=killer.SlowSteps", f"+callbacks.slow.seconds={seconds}"]
    return args + (["+callbacks.slow.first_run_only=true"] if first_run_only else [])


# SLURM sends the time-limit signal at the first of its 30 s checks that finds the job within signal_delay_s
# + 30 s of its limit (seen here: a 1-minute job with signal_delay_s=35 was signalled 0-30 s after its start,
# and a signal sent before the job's step has started is lost). A 2-minute limit with signal_delay_s=70
# puts it 20-50 s after the start: in training, when the first run's steps are slowed past that.
TIME_LIMIT = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=70"]


def paths(tmp: Path, data_dir: Path) -> list[str]:
    return [f"paths.data_dir={data_dir}", f"paths.output_dir={tmp / 'outputs'}"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Path:
    """The uninterrupted local run (it also builds the tiny dataset the cluster's jobs read)."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    proc = run(*BASE, *paths(tmp, data_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(tmp / "outputs")


def assert_same_weights(run_dir: Path, reference: Path) -> None:
    ours = load(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    theirs = load(reference / "checkpoints" / "last.ckpt")["state_dict"]
    assert ours.keys() == theirs.keys()
    different = [k for k in theirs if not torch.equal(ours[k], theirs[k])]
    assert not different, different
    mine, ref = (json.loads((r / "metrics.json").read_text()) for r in (run_dir, reference))
    for key in ("test/acc", "test/loss", "val/acc_best", "global_step"):
        assert mine[key] == ref[key], key


def assert_resumed_where_stopped(invocations: list[dict], stopped: str) -> list[int]:
    """Every invocation but the last stopped (`stopped`) with a checkpoint at its last step, and the next
    one started from that step: no step was done twice. Returns the steps where the run stopped."""
    *earlier, last = invocations
    assert earlier and last["outcome"] == "tested", invocations
    for this, following in zip(earlier, invocations[1:]):
        assert this["outcome"] == stopped, invocations
        assert following["step_start"] == this["step_end"], invocations
    return [i["step_end"] for i in earlier]


def test_time_limit_requeues_and_resumes_bit_identical(reference, tmp_path, data_dir):
    """At the time limit SLURM's SIGUSR2 (signal_delay_s before it) checkpoints the run at the end of
    the step in flight; submitit requeues the job; the rerun resumes from that step."""
    args = [*LAUNCHER, *TIME_LIMIT, *slow(3.0, first_run_only=True)]  # 60 s of training, then full speed
    proc = run("-m", *BASE, *paths(tmp_path, data_dir), *args, timeout=900)
    logs = job_logs(tmp_path / "outputs")
    assert proc.returncode == 0, proc.stderr[-3000:] + logs
    run_dir = only_run(tmp_path / "outputs")
    invocations = json.loads((run_dir / "metrics.json").read_text())["invocations"]
    stops = assert_resumed_where_stopped(invocations, "requeued")
    print(f"time limit: {len(stops)} requeue(s), stopped at steps {stops}, steps redone 0")
    for stopped in invocations[:-1]:  # 20 steps in all; a stop before training is recorded where it started
        assert 0 < stopped["step_end"] <= 20 or stopped.get("before_training"), invocations
    assert_same_weights(run_dir, reference)
    assert "Traceback" not in logs and "Exception ignored" not in logs, logs
    summary = json.loads(next((tmp_path / "outputs").glob("train-multirun/*/summary.json")).read_text())
    assert summary["finished"] == 1 and summary["failed"] == 0, summary


def test_time_limit_without_requeues_left_ends_the_job_with_a_result(reference, tmp_path, data_dir):
    """max_num_timeout=0 (submitit's default): the time limit still checkpoints the run, and the job ends
    with a result naming it (no `sys.exit` without one, no endless wait): the sweep records it and ends."""
    args = [*LAUNCHER, *TIME_LIMIT, "hydra.launcher.max_num_timeout=0", *slow(3.0)]
    proc = run("-m", *BASE, *paths(tmp_path, data_dir), *args)
    out = tmp_path / "outputs"
    assert proc.returncode == 1 and "1 of 1 jobs failed" in proc.stderr, proc.stderr[-3000:] + job_logs(out)
    (summary_file,) = out.glob("train-multirun/*/summary.json")
    (job,) = json.loads(summary_file.read_text())["jobs"]
    assert "not requeued: timed out too many times" in job["error"], job
    if (only_run(out) / "status.json").is_file():  # SLURM may signal before training starts: nothing recorded
        (invocation,) = json.loads((only_run(out) / "status.json").read_text())["invocations"]
        assert invocation["outcome"] == "interrupted", invocation
        if invocation["step_end"]:
            assert load(only_run(out) / "checkpoints" / "last.ckpt")["global_step"] == invocation["step_end"]


def requeue_after(step: int, cmd: list[str], out: Path) -> tuple[Path, list[int], str]:
    """Start the sweep `cmd`; once its one job has written step `step`'s checkpoint, `scontrol requeue` it
    (SIGTERM, as a preemption). The sweep succeeds, the run resumed where each invocation stopped, and sacct
    lists the job REQUEUED, then COMPLETED. Returns (the run directory, the steps it stopped at, the job logs)."""
    sweep = subprocess.Popen(cmd, env=job_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name = f"latest-step{step:08d}.ckpt"
        wait_for(lambda: list(out.glob(f"train/*/checkpoints/{name}")), 300, f"step {step}'s checkpoint")
        job = wait_for(
            lambda: subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split(),
            30,
            "the job",
        )
        assert len(job) == 1, job
        subprocess.run(["scontrol", "requeue", job[0]], check=True, timeout=60)
        _, stderr = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    logs = job_logs(out)
    assert sweep.returncode == 0, stderr[-3000:] + logs
    run_dir = only_run(out)
    invocations = json.loads((run_dir / "metrics.json").read_text())["invocations"]
    stops = assert_resumed_where_stopped(invocations, "interrupted")
    history = wait_for(lambda: sacct_history(job[0]), 120, "the job's end in sacct")
    assert history[0] == "REQUEUED" and history[-1] == "COMPLETED", history
    return run_dir, stops, logs


def test_scontrol_requeue_sigterm_resumes_bit_identical(reference, tmp_path, data_dir):
    """Preemption as `scontrol requeue` does it: SIGTERM mid-run; the step in flight ends with a checkpoint,
    the job exits 75 without a result; SLURM reruns it, it resumes, the launcher reads the rerun's result."""
    args = [*LAUNCHER, "hydra.launcher.timeout_min=10", *slow(1.0)]
    out = tmp_path / "outputs"
    run_dir, stops, logs = requeue_after(4, train_cmd("-m", *BASE, *paths(tmp_path, data_dir), *args), out)
    print(f"scontrol requeue: {len(stops)} stop(s) at steps {stops}, steps redone 0")
    assert len(stops) == 1 and 4 <= stops[0] < 20, stops
    assert_same_weights(run_dir, reference)
    assert "Traceback" not in logs and "Exception ignored" not in logs, logs


def submitted_jobs(out: Path) -> dict[str, int]:
    """The SLURM jobs submitted for the sweeps under `out` with their task counts: submitit's folders are
    .submitit/<array id>_<task> (and <array id>) for an array, .submitit/<job id> for a single job."""
    names = [p.name for p in out.glob("train-multirun/*/.submitit/[0-9]*")]
    found: dict[str, int] = {}
    for name in names:
        job = name.split("_")[0]
        if "_" in name or not any(n.startswith(f"{name}_") for n in names):
            found[job] = found.get(job, 0) + 1
    return found


def sacct_history(job: str) -> list[str] | None:
    """The states of every run of a SLURM job (sacct -D), once the last one has ended (None before)."""
    cmd = ["sacct", "-D", "-X", "-n", "-P", "-o", "State", "-j", job]
    states = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.split()
    return states if states and states[-1] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED") else None


def test_sweep_with_a_failing_job_and_its_rerun(reference, tmp_path, data_dir):
    """Three SLURM jobs, one failing inside the job (seed=-1 is refused by the job's own checks): the
    others finish, summary.json says so; the same command again submits only the failed job."""
    cmd = ["-m", *TINY, "trainer=debug", *paths(tmp_path, data_dir), *LAUNCHER, "hydra.launcher.timeout_min=5"]
    proc = run(*cmd, "seed=0,-1,1")
    out = tmp_path / "outputs"
    assert proc.returncode == 1, proc.stderr[-3000:] + job_logs(out)
    assert "1 of 3 jobs failed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (summary_file,) = out.glob("train-multirun/*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert (summary["finished"], summary["failed"]) == (2, 1), summary
    assert [j["status"] for j in summary["jobs"]] == ["finished", "failed", "finished"], summary
    assert "seed" in summary["jobs"][1]["error"]
    assert sorted(submitted_jobs(out).values()) == [3], submitted_jobs(out)  # one array job of 3 tasks

    again = run(*cmd, "seed=0,-1,1")
    assert again.returncode == 1, again.stderr[-3000:]
    said = again.stdout + again.stderr
    assert "2 of 3 jobs are finished: reported here, not submitted" in said, said[-3000:]
    assert sorted(submitted_jobs(out).values()) == [1, 3], submitted_jobs(out)  # then a job of 1 task
    rerun = json.loads(summary_file.read_text())
    assert [j["status"] for j in rerun["jobs"]] == ["finished", "failed", "finished"], rerun
    for job in (rerun["jobs"][0], rerun["jobs"][2]):
        assert len(json.loads((Path(job["dir"]) / "metrics.json").read_text())["invocations"]) == 1


def test_optuna_search_on_the_cluster_continues_its_study(reference, tmp_path, data_dir):
    """hparams_search=optuna with its trials as SLURM jobs (2 at a time: one array job); the same command
    with n_trials raised continues the study in its optuna.db and submits only the trial it still owes."""
    import optuna

    args = ["hparams_search=optuna", "trainer.max_epochs=1", "logger=none", "trainer.limit_train_batches=3"]
    cmd = ["-m", *TINY, *args, *paths(tmp_path, data_dir), *LAUNCHER, "hydra.launcher.timeout_min=5"]
    out = tmp_path / "outputs"
    proc = run(*cmd, "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2")
    assert proc.returncode == 0, proc.stderr[-3000:] + job_logs(out)
    (db,) = out.glob("train-multirun/*/optuna.db")

    def states() -> list[str]:
        study = optuna.load_study(study_name="train", storage=f"sqlite:///{db}")
        params = [tuple(sorted(t.params.items())) for t in study.trials]
        assert len(set(params)) == len(params), params  # a continued study draws new parameters
        return [t.state.name for t in study.trials]

    assert states() == ["COMPLETE", "COMPLETE"]
    assert sorted(submitted_jobs(out).values()) == [2], submitted_jobs(out)  # one array job of 2 trials

    more = run(*cmd, "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=3")
    assert more.returncode == 0, more.stderr[-3000:] + job_logs(out)
    assert "has 2 finished trials; running 1 more" in more.stdout + more.stderr
    assert states() == ["COMPLETE", "COMPLETE", "COMPLETE"]
    assert sorted(submitted_jobs(out).values()) == [1, 2], submitted_jobs(out)  # then a job of 1 trial
    print(f"optuna on SLURM: trials {states()}, SLURM jobs (tasks) {submitted_jobs(out)}")


# DDP across the cluster's two nodes: one rank per node (a node has 1 CPU), gloo; srun starts both ranks
DDP = [
    "trainer=ddp",
    "trainer.num_nodes=2",
    "trainer.devices=1",
    "hydra.launcher.nodes=2",
    "hydra.launcher.tasks_per_node=1",
]


@pytest.fixture(scope="module")
def ddp_reference(tmp_path_factory, data_dir) -> Path:
    """The uninterrupted local 2-process run (`trainer=ddp`: Lightning starts rank 1 on this machine)."""
    tmp = tmp_path_factory.mktemp("ddp_uninterrupted")
    proc = run(*BASE, "trainer=ddp", *paths(tmp, data_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run(tmp / "outputs")


def assert_one_ddp_job(out: Path, logs: str) -> None:
    """Both ranks ran, one per node, and the sweep counted the job once (rank 1 writes no record)."""
    assert "local_rank=0(1), node=1(2), global_rank=1(2)" in logs, logs  # submitit: task 1 on the second node
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in logs, logs  # Lightning: rank 1 of a world of 2
    (summary_file,) = out.glob("train-multirun/*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert (len(summary["jobs"]), summary["finished"]) == (1, 1), summary
    assert (only_run(out) / "train_rank1.log").is_file()  # rank 1's Hydra logs apart and writes no .hydra/
    assert "Traceback" not in logs and "Exception ignored" not in logs, logs


def test_ddp_job_on_two_nodes_preempted_by_sigterm_resumes_bit_identical(ddp_reference, tmp_path, data_dir):
    """A 2-node DDP job (srun starts both ranks; Lightning's SLURMEnvironment) preempted mid-epoch by
    `scontrol requeue`: every rank stops at the same step with a checkpoint, SLURM reruns the job, it
    resumes, and ends with the weights and test metrics of the local 2-process run."""
    args = [*LAUNCHER, "hydra.launcher.timeout_min=10", *DDP, "checkpoint.every_n_steps=2", *slow(1.0)]
    out = tmp_path / "outputs"
    t0 = time.perf_counter()
    run_dir, stops, logs = requeue_after(2, train_cmd("-m", *BASE, *paths(tmp_path, data_dir), *args), out)
    assert len(stops) == 1 and stops[0] % 5 != 0, stops  # mid-epoch: 5 steps an epoch, 10 in all
    assert_same_weights(run_dir, ddp_reference)
    assert_one_ddp_job(out, logs)
    print(
        f"DDP 2 nodes, scontrol requeue: {len(stops)} requeue(s), stopped at steps {stops} (mid-epoch), steps "
        f"redone 0, bit-identical to local trainer=ddp; {time.perf_counter() - t0:.0f} s"
    )


def test_ddp_job_on_two_nodes_at_its_time_limit_requeues_and_resumes_bit_identical(ddp_reference, tmp_path, data_dir):
    """The same 2-node DDP job at its time limit: SLURM's SIGUSR2 reaches both ranks, which stop at the same
    step; rank 0 requeues the job through submitit; the rerun resumes and matches the local 2-process run."""
    args = [*LAUNCHER, *TIME_LIMIT, *DDP, *slow(6.0, first_run_only=True)]  # 10 steps: 60 s, then full speed
    t0 = time.perf_counter()
    proc = run("-m", *BASE, *paths(tmp_path, data_dir), *args, timeout=900)
    out = tmp_path / "outputs"
    logs = job_logs(out)
    assert proc.returncode == 0, proc.stderr[-3000:] + logs
    run_dir = only_run(out)
    invocations = json.loads((run_dir / "metrics.json").read_text())["invocations"]
    stops = assert_resumed_where_stopped(invocations, "requeued")
    for stopped in invocations[:-1]:
        assert 0 < stopped["step_end"] <= 10 or stopped.get("before_training"), invocations
    assert_same_weights(run_dir, ddp_reference)
    assert_one_ddp_job(out, logs)
    early = sum(bool(i.get("before_training")) for i in invocations)
    print(
        f"DDP 2 nodes, time limit: {len(stops)} requeue(s) ({early} before training), stopped at steps {stops}, "
        f"steps redone 0, bit-identical to local trainer=ddp; {time.perf_counter() - t0:.0f} s"
    )
