"""Optuna pruning inside a run: report `val/acc` to the run's trial each epoch, stop when the pruner says so.

The Optuna sweeper (hydra_plugins/fwtk_lab_optuna) gives each job `optuna.storage`, `optuna.study` and
`optuna.trial`; the study holds the pruner's config. A pruned run stops after that epoch, is tested and
recorded `pruned` (status.json, metrics.json); a rerun reports it instead of resuming it. Optuna is imported
only here and only when a config carries `optuna` (it is in the `sweep` extra).
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback

log = logging.getLogger("fwtk_lab.optuna")
PRUNER_ATTR = "fwtk_pruner"  # study user attr: the pruner's config (the sweeper writes it, jobs read it)
PRUNED_ATTR = "pruned_epoch"  # trial user attr: the epoch after which the run was pruned
INTERRUPTED_ATTR = "interrupted"  # trial user attr: left RUNNING by a killed search, queued again
MONITOR = "val/acc"


def connect(url: str) -> Any:
    """An Optuna RDB storage; SQLite writers wait up to a minute for each other (parallel jobs)."""
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def open_trial(link: DictConfig) -> Any:
    """The live trial `optuna.trial` of study `optuna.study` in `optuna.storage`, with the study's pruner."""
    import optuna
    from hydra.utils import instantiate

    storage = connect(str(link.storage))
    study = optuna.load_study(study_name=str(link.study), storage=storage)
    pruner_cfg = study.user_attrs.get(PRUNER_ATTR)
    study.pruner = instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner()
    study_id = storage.get_study_id_from_name(str(link.study))
    return optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, int(link.trial)))


class OptunaPruning(Callback):
    """Report `val/acc` to the trial after each validation epoch; on should_prune() stop the fit there."""

    def __init__(self, link: DictConfig) -> None:
        self.trial = open_trial(link)
        self.link = {"study": str(link.study), "trial": int(link.trial)}
        self.pruned_epoch: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After the module's epoch-end hooks: this epoch's val/acc is in callback_metrics."""
        value = trainer.callback_metrics.get(MONITOR)
        if trainer.sanity_checking or value is None:
            return
        epoch, prune = trainer.current_epoch, False
        if trainer.is_global_zero:  # rank 0 reports and decides; DDP ranks follow its decision
            self.trial.report(float(value), step=epoch)
            prune = self.trial.should_prune()
            if prune:
                self.trial.set_user_attr(PRUNED_ATTR, epoch)
                log.info("Optuna trial %d: pruned after epoch %d (%s %.4f)", self.link["trial"], epoch, MONITOR, value)
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_epoch = epoch
            trainer.should_stop = True

    def record(self) -> dict | None:
        """What metrics.json and status.json say about the pruning (None: not pruned)."""
        return None if self.pruned_epoch is None else {**self.link, "epoch": self.pruned_epoch}


def callbacks(cfg: DictConfig) -> list[Callback]:
    """[OptunaPruning] when the config links the run to an Optuna trial (`optuna.trial`), else []."""
    link = cfg.get("optuna")
    return [OptunaPruning(link)] if link is not None and link.get("trial") is not None else []


def mark_pruned(cfg: DictConfig, pruned: dict) -> None:
    """Tell this config's trial (if any) that its run was pruned before (a rerun of a pruned run)."""
    link = cfg.get("optuna")
    if link is not None and link.get("trial") is not None:
        open_trial(link).set_user_attr(PRUNED_ATTR, pruned.get("epoch"))
