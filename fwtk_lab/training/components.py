"""Loggers and callbacks of a config, instantiated; entries with `enabled: false` are switched off."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, ModelSummary, ProgressBar
from pytorch_lightning.loggers import Logger

from fwtk_lab.training.loggers import check_extras


def instantiate_enabled(group: DictConfig | None, extra: dict[str, dict] | None = None) -> list:
    """Instantiate each entry of a group that has a `_target_`, unless it says `enabled: false`.

    extra: more keyword arguments by class name (e.g. {"TensorBoardLogger": {"purge_step": 120}}).
    """
    out = []
    for node in (group or {}).values():
        if not node or not node.get("_target_"):
            continue
        kwargs = OmegaConf.to_container(node, resolve=True)
        kwargs.update((extra or {}).get(str(kwargs["_target_"]).rsplit(".", 1)[-1], {}))
        if kwargs.pop("enabled", True):
            out.append(instantiate(kwargs))
    return out


def loggers(cfg: DictConfig, purge_step: int | None = None) -> list[Logger]:
    """The `logger` group's loggers (a clear error first when one needs a missing optional package).

    purge_step: a resumed run's first step; TensorBoard hides what a killed invocation logged from there on.
    """
    check_extras(cfg.get("logger"))
    extra = {"TensorBoardLogger": {"purge_step": purge_step}} if purge_step else None
    return instantiate_enabled(cfg.get("logger"), extra)


def callbacks(cfg: DictConfig, has_logger: bool) -> list[Callback]:
    """The `callbacks` group's callbacks, less those the trainer settings switch off.

    No logger: no learning-rate monitor (Lightning refuses it). `trainer.enable_progress_bar=false` /
    `enable_model_summary=false` drop the rich progress bar / model summary (Lightning refuses both at once).
    """
    drop: tuple[type, ...] = ()
    if not has_logger:
        drop += (LearningRateMonitor,)
    if not cfg.trainer.get("enable_progress_bar", True):
        drop += (ProgressBar,)
    if not cfg.trainer.get("enable_model_summary", True):
        drop += (ModelSummary,)
    return [c for c in instantiate_enabled(cfg.get("callbacks")) if not isinstance(c, drop)]
