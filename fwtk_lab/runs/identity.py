"""A run's identity: its directory is named after the config keys that decide its result.

`outputs/train/<name>-<hash>`: the name is the experiment (or model + dataset) for people, the hash
covers every resolved config value except those that only say where, how fast or how long a run goes
(IGNORED). Rerunning the same command finds the same directory; a raised `trainer.max_epochs` finds it
too and continues the run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Top-level keys that never change a result: where files go, what is logged, how runs are resumed.
IGNORED = {
    "hydra",
    "paths",
    "logger",
    "callbacks",
    "checkpoint",
    "preemption",
    "task_name",
    "resume",
    "ckpt_path",
    "threads",
    "figures",
    "optimized_metric",
    "tags",
    "notes",
    "debug",
    "local",
    "hparams_search",
    "experiment",
    "datamodule",  # which classes build the run: their inputs (dataset, data, model ...) are hashed
    "module",
    "optuna",  # which Optuna trial a sweep job reports to (fwtk_lab/runs/pruning.py)
}
# Keys inside groups that only set budgets, speed or display (a raised budget continues the same run).
IGNORED_KEYS = {
    "trainer": {
        "max_epochs",
        "max_steps",
        "min_epochs",
        "max_time",
        "enable_progress_bar",
        "enable_model_summary",
        "log_every_n_steps",
        "profiler",
        "detect_anomaly",
    },
    "data": {"num_workers", "resident"},
    "dataset": {"build_workers", "verify_checksums"},
}
# Keys added after runs were made, with the value older runs had: they enter the hash only when set to something
# else, so older runs keep their directories.
ADDED_LATER: dict[str, dict[str, Any]] = {"dataset": {"lines": None, "other_fonts": None}, "trainer": {"num_nodes": 1}}
_CHOSEN: dict[str, str] = {}  # per process: what a run dir resolved to, so that re-resolving gives the same path


def identity(cfg: DictConfig | dict) -> dict[str, Any]:
    """The resolved config values that decide a run's result (the hashed part of its directory name)."""
    if isinstance(cfg, dict):
        cfg = OmegaConf.create(cfg)
    out: dict[str, Any] = {}
    for key in cfg:
        if key in IGNORED:
            continue
        value = cfg[key]
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        if isinstance(value, dict) and key in IGNORED_KEYS:
            value = {k: v for k, v in value.items() if k not in IGNORED_KEYS[key]}
        if isinstance(value, dict) and key in ADDED_LATER:
            old = ADDED_LATER[key]
            value = {k: v for k, v in value.items() if not (k in old and v == old[k])}
        out[str(key)] = value
    return out


def config_hash(cfg: DictConfig | dict) -> str:
    return hashlib.sha256(json.dumps(identity(cfg), sort_keys=True, default=str).encode()).hexdigest()[:8]


def differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identity dicts (for a clear refusal message)."""
    keys = sorted(set(saved) | set(current))
    out: list[str] = []
    for k in keys:
        a, b = saved.get(k, "<absent>"), current.get(k, "<absent>")
        name = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, name + ".")
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def readable_name(cfg: DictConfig) -> str:
    """The experiment's name, else model + dataset (Hydra's chosen options where known)."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices") or {}
    experiment = choices.get("experiment")
    if experiment and experiment != "null":
        return str(experiment).replace("/", "-")
    model = choices.get("model") or str(OmegaConf.select(cfg, "model._target_", default="model")).split(".")[-2]
    dataset = OmegaConf.select(cfg, "dataset.name", default="data")
    return f"{model}-{dataset}".replace("/", "-")


def run_dir(parent: str, *, _root_: DictConfig) -> str:
    """Resolver `${run_dir:PARENT}`: PARENT/<name>-<hash>; with resume=never, the next free PARENT/<name>-<hash>-N."""
    base = Path(parent) / f"{readable_name(_root_)}-{config_hash(_root_)}"
    memo = f"{base}|{_root_.get('resume')}"
    if memo in _CHOSEN:
        return _CHOSEN[memo]
    path = base
    if _root_.get("resume") == "never":
        n = 2
        while path.exists():
            path = base.with_name(f"{base.name}-{n}")
            n += 1
    _CHOSEN[memo] = str(path)
    return str(path)


def sweep_id(*, _root_: DictConfig) -> str:
    """Resolver `${sweep_id:}`: a short hash of the command line's overrides (the same sweep, the same folder)."""
    task = [o for o in (OmegaConf.select(_root_, "hydra.overrides.task") or []) if not str(o).startswith("hydra.")]
    return "sweep-" + hashlib.sha256(json.dumps(sorted(map(str, task))).encode()).hexdigest()[:8]


def register() -> None:
    """Make the resolvers known to OmegaConf (before Hydra composes the config)."""
    OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
    OmegaConf.register_new_resolver("sweep_id", sweep_id, replace=True)


# A DDP process's rank as its starter says it: Lightning's local children (LOCAL_RANK, NODE_RANK), torchrun
# (RANK, LOCAL_RANK; GROUP_RANK for the node), srun (SLURM_PROCID, the global rank of a task).
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


def env_rank_zero() -> bool:
    """True in the process that locks and writes a run's files: global rank 0, or the only process."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)
