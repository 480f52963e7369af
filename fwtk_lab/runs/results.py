"""What a finished run leaves: metrics.json, and the same hparams + final metrics in every logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, MLFlowLogger, TensorBoardLogger

from fwtk_lab.core.files import atomic_write_json
from fwtk_lab.runs import provenance, resume, tracking
from fwtk_lab.training.aic import train_aic

log = logging.getLogger("fwtk_lab.train")


def hparams(cfg: DictConfig) -> dict:
    """The values a reader compares runs by, flattened for TensorBoard's hparams table."""
    flat: dict = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not str(k).startswith("_") or k == "_target_":
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, (int, float, str, bool)) or node is None:
            flat[prefix] = "null" if node is None else node
        else:
            flat[prefix] = str(node)

    for key in ("model", "optimizer", "scheduler", "slicer"):
        walk(key, OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) is not None else None)
    walk("dataset", {k: cfg.dataset[k] for k in ("name", "width", "height", "max_chars", "max_phrases", "seed")})
    walk("dataset.fonts", ",".join(map(str, cfg.dataset.fonts)))
    walk(
        "",
        {
            "seed": cfg.seed,
            "batch_size": cfg.data.batch_size,
            "max_epochs": cfg.trainer.max_epochs,
            "precision": str(cfg.trainer.precision),
        },
    )
    return flat


@dataclass
class Tested:
    """What one run's fit and test produced, besides the trainer, model and data: the inputs of metrics.json."""

    tested: dict  # trainer.test's metrics
    invocations: list[dict]  # every invocation of the run, this one last
    chosen: str | None  # the tested checkpoint (None: the weights at the end of training)
    test_seconds: float
    val_last: float | None
    threads: int
    provenance: dict
    pruned: dict | None = None  # stopped early by its Optuna trial: {study, trial, epoch}


def write(cfg: DictConfig, run_dir: Path, trainer: pl.Trainer, model, dm, run: Tested) -> dict:
    """Assemble metrics.json from the test and the invocations, write it, and give every logger the final hparams."""
    tested, all_runs, prov, pruned = run.tested, run.invocations, run.provenance, run.pruned
    ckpt_cb = next((cb for cb in trainer.callbacks if isinstance(cb, pl.callbacks.ModelCheckpoint)), None)
    val_best = float(ckpt_cb.best_model_score) if ckpt_cb is not None and ckpt_cb.best_model_score is not None else None
    metrics = {
        "test/acc": tested["test/acc"],
        "test/loss": tested["test/loss"],
        "test/aic": tested["test/aic"],
        "test/nll_sum": tested["test/nll_sum"],
        "test/ece": tested.get("test/ece"),  # calibration error of the tested weights, before / after
        "test/ece_calibrated": tested.get("test/ece_calibrated"),  # the temperature fitted on the val split
        "temperature": float(model.temperature),
        "val/acc_best": val_best,
        "val/acc_last": run.val_last,
        "params": model.num_parameters,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "fit_seconds": round(sum(r.get("fit_seconds", r.get("seconds", 0)) for r in all_runs), 2),
        "test_seconds": round(run.test_seconds, 2),
        "threads": run.threads,
        "compute_seconds": round(sum(r.get("seconds", 0) for r in all_runs), 2),
        "invocations": all_runs,
        "test_checkpoint": run.chosen or "(weights at the end of training)",
        "test_acc_per_font": {name: tested.get(f"test/acc_font/{name}") for name in dm.classes},
        "classes": dm.classes,
        "dataset": str(dm.store.root),
        "run_dir": str(run_dir),
        "provenance": prov,
    }
    if pruned:
        metrics["pruned"] = pruned  # stopped early by its Optuna trial's pruner: {study, trial, epoch}
    metrics.update(train_aic(model, dm))  # AIC on the training split, with the tested weights
    if trainer.is_global_zero:
        atomic_write_json(run_dir / "metrics.json", metrics)
        hp_metrics = {
            "hp/test_acc": metrics["test/acc"],
            "hp/test_loss": metrics["test/loss"],
            "hp/test_aic": metrics["test/aic"],
            "hp/params": float(metrics["params"]),
        }
        if val_best is not None:
            hp_metrics["hp/val_acc_best"] = val_best
        log_final(trainer.loggers, {**hparams(cfg), **provenance.flat(prov)}, hp_metrics, trainer.global_step)
        status = {**resume.read_status(run_dir), "status": "pruned" if pruned else "finished"}
        resume.write_status(run_dir, {**status, **({"pruned": pruned} if pruned else {})})
        log.info(
            "test accuracy %.4f (loss %.4f, AIC %.1f) | metrics in %s",
            metrics["test/acc"],
            metrics["test/loss"],
            metrics["test/aic"],
            run_dir / "metrics.json",
        )
    return metrics


def log_final(loggers: list[Logger], params: dict, metrics: dict, step: int) -> None:
    """Give every logger the run's hparams and final metrics (TensorBoard: its hparams table), then finalize it.

    MLflow keeps a param's first value (a run extended with more epochs); the W&B run ends here.
    """
    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            lg.log_hyperparams(params, metrics)
        else:
            lg.log_hyperparams(tracking.keep_first_params(lg, params) if isinstance(lg, MLFlowLogger) else params)
            lg.log_metrics(metrics, step=step)
        lg.finalize("success")
    tracking.finish_wandb(loggers)
