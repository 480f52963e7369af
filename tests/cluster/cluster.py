"""The SLURM test cluster for tests/cluster/: started once per session (`.ci/cluster start`) when `sinfo`
does not answer; skipped with the reason where no SLURM can be started, never in CI (CI=true: fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
# the test cluster's nodes have 1 CPU and ~10 GB each, no GPUs (docs/cluster.md)
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.mem_gb=2",
]


def sinfo_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def why_no_cluster() -> str | None:
    """Why `.ci/cluster start` cannot work here (None: it can be tried)."""
    if os.geteuid() != 0:
        return "not root (.ci/cluster start installs and runs the SLURM daemons as root)"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "no sbatch and no apt-get to install slurm-wlm"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    if sinfo_answers():
        return
    reason = why_no_cluster()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no SLURM cluster can be started: {reason}")
        pytest.skip(f"no SLURM cluster: {reason}")
    proc = subprocess.run([str(REPO / ".ci" / "cluster"), "start"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and sinfo_answers(), f".ci/cluster start failed:\n{proc.stdout}\n{proc.stderr}"


def job_env() -> dict:
    """The environment of the submitting process, which submitit's sbatch passes on to the jobs: the
    jobs import this checkout's fwtk_lab and the test callbacks (tests/killer.py)."""
    path = os.pathsep.join([str(REPO), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}


def train_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fwtk_lab.train", *args]


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(*args), capture_output=True, text=True, env=job_env(), timeout=timeout)


def only_run(output_dir: Path) -> Path:
    runs = [p for p in (output_dir / "train").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        got = predicate()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def job_logs(sweep_root: Path, tail: int = 3000) -> str:
    """The submitit logs of every job under sweep_root (for assertion messages)."""
    out = []
    for f in sorted(sweep_root.glob("**/.submitit/**/*_log.*")):
        out.append(f"---- {f}\n{f.read_text(errors='replace')[-tail:]}")
    return "\n".join(out)
