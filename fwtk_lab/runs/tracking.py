"""MLflow and W&B runs that follow the run directory: their ids in `tracking.json`, continued on resume.

A rerun of a killed (or extended) run logs into the MLflow run and the W&B run its first invocation started,
as long as it logs to the same tracking store / project; otherwise it starts new ones there.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, MLFlowLogger, WandbLogger

from fwtk_lab.core.checks import reason
from fwtk_lab.core.errors import ResumeError
from fwtk_lab.core.files import atomic_write_json

log = logging.getLogger("fwtk_lab.tracking")
IDS = "tracking.json"
MLFLOW_NOTE = "mlflow.note.content"  # the run's description in MLflow's UI


def stores(logger_cfg: DictConfig | None) -> dict[str, str]:
    """Where each tracked logger of the config logs, by class name: MLflow's tracking URI, W&B's project."""
    out = {}
    for node in (logger_cfg or {}).values():
        if not node or not node.get("_target_") or not node.get("enabled", True):
            continue
        cls = str(node["_target_"]).rsplit(".", 1)[-1]
        if cls == "MLFlowLogger":
            out[cls] = str(node.get("tracking_uri"))
        elif cls == "WandbLogger":
            out[cls] = f"{node.get('entity') or ''}/{node.get('project')}"
    return out


def saved(run_dir: Path) -> dict:
    """The ids an earlier invocation of this run recorded ({} if none)."""
    try:
        return json.loads((run_dir / IDS).read_text())
    except (OSError, ValueError):
        return {}


def resume_kwargs(run_dir: Path, logger_cfg: DictConfig | None) -> dict[str, dict]:
    """Keyword arguments by logger class that continue the runs an earlier invocation of this run started."""
    ids, now = saved(run_dir), stores(logger_cfg)
    out: dict[str, dict] = {}
    for cls, record in ids.items():
        if cls not in now:
            continue
        if record.get("store") != now[cls]:
            log.warning(
                "%s: the run's earlier %s run %s is in %s; this invocation logs to %s: a new run there",
                run_dir,
                cls,
                record.get("id"),
                record.get("store"),
                now[cls],
            )
        elif cls == "MLFlowLogger":
            out[cls] = {"run_id": record["id"]}
        elif cls == "WandbLogger":
            out[cls] = {"id": record["id"], "resume": "allow"}
    return out


def mlflow_tags(cfg: DictConfig) -> dict[str, str]:
    """MLflow's tags: an MLflow logger's own `tags`, each of the config's `tags` (empty value), `notes`."""
    out: dict[str, str] = {}
    for node in (cfg.get("logger") or {}).values():
        if node and str(node.get("_target_", "")).endswith("MLFlowLogger") and node.get("tags"):
            out.update({str(k): str(v) for k, v in OmegaConf.to_container(node.tags, resolve=True).items()})
    out.update({str(t): "" for t in cfg.get("tags") or []})
    if cfg.get("notes"):
        out[MLFLOW_NOTE] = str(cfg.notes)
    return out


def record(run_dir: Path, loggers: list[Logger], where: dict[str, str]) -> None:
    """Start the runs of these MLflow / W&B loggers and write their ids to tracking.json (if they changed).

    Called on rank zero before fit, so that a run killed at any point after it is continued.
    """
    ids = {}
    for lg in loggers:
        if isinstance(lg, MLFlowLogger):
            ids["MLFlowLogger"] = {"id": _mlflow_run_id(lg, run_dir, where), "store": where.get("MLFlowLogger")}
        elif isinstance(lg, WandbLogger):
            ids["WandbLogger"] = {"id": lg.experiment.id, "store": where.get("WandbLogger")}
    before = saved(run_dir)
    if ids and {**before, **ids} != before:
        atomic_write_json(run_dir / IDS, {**before, **ids})


def _mlflow_run_id(lg: MLFlowLogger, run_dir: Path, where: dict[str, str]) -> str:
    """The logger's run id (starting the run); a recorded run the store no longer has is one clear error."""
    try:
        return lg.run_id
    except Exception as e:
        before = saved(run_dir).get("MLFlowLogger", {})
        if before.get("id") and before.get("store") == where.get("MLFlowLogger"):
            raise ResumeError(
                f"MLflow run {before['id']} (in {run_dir / IDS}) cannot be continued in {before['store']}: "
                f"{reason(e)}; restore that store, or delete {IDS} to start a new MLflow run"
            ) from None
        raise


def keep_first_params(lg: MLFlowLogger, params: dict) -> dict:
    """The params MLflow can take: a param logged before keeps its first value (MLflow refuses a change)."""
    before = lg.experiment.get_run(lg.run_id).data.params
    changed = sorted(k for k, v in params.items() if k in before and before[k] != str(v)[:250])
    if changed:
        log.warning(
            "MLflow run %s keeps the first value of %s (an MLflow param cannot change)", lg.run_id, ", ".join(changed)
        )
    return {k: v for k, v in params.items() if k not in changed}


def finish_wandb(loggers: list[Logger], exit_code: int = 0) -> None:
    """End the W&B run of these loggers (so the next run in this process starts its own)."""
    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
