"""Where a run came from: command line, git commit and dirty flag, package versions, machine, tags and notes."""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core.files import atomic_write_json

PACKAGES = (
    "fwtk_lab",
    "torch",
    "pytorch-lightning",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "numpy",
    "tensorboard",
    "wandb",
    "mlflow",
)
SOURCE_DIR = Path(__file__).resolve().parents[2]  # the checkout that holds the fwtk_lab package


def git(source_dir: Path = SOURCE_DIR) -> dict:
    """Commit and dirty flag (tracked files changed) of the checkout, or nulls outside a git checkout."""

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(source_dir), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.rstrip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "changed": []}
    changed = [line[3:] for line in (run("status", "--porcelain", "--untracked-files=no") or "").splitlines()]
    return {
        "commit": commit,
        "branch": run("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(changed),
        "changed": changed,
    }


def versions() -> dict:
    """Installed versions of the packages a result depends on (missing optional ones left out)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Host, OS, CPU, torch threads and the GPUs torch sees."""
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpus": gpus,
        "cuda": torch.version.cuda,
    }


def collect(cfg: DictConfig) -> dict:
    """The provenance record of a run."""
    tags = cfg.get("tags")
    return {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),  # as typed: python -m ...
        "cwd": os.getcwd(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git(),
        "versions": versions(),
        "machine": machine(),
        "tags": list(OmegaConf.to_container(tags, resolve=True)) if tags is not None else [],
        "notes": cfg.get("notes"),
    }


def flat(record: dict) -> dict:
    """The record as `provenance.*` scalars for a hparams table (lists joined with commas)."""
    out: dict = {}
    for key in ("tags", "notes", "command"):
        value = record[key]
        out[f"provenance.{key}"] = (
            ",".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value)
        )
    for group in ("git", "versions", "machine"):
        for key, value in record[group].items():
            if key == "changed":  # the file list stays in provenance.json
                continue
            out[f"provenance.{group}.{key}"] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def record(cfg: DictConfig, run_dir: Path) -> dict:
    """Write <run dir>/provenance.json and return the record (for metrics.json and the hparams table)."""
    rec = collect(cfg)
    atomic_write_json(Path(run_dir) / "provenance.json", rec)
    return rec
