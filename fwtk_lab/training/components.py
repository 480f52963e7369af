"""Loggers and callbacks of a config, instantiated; entries with `enabled: false` are switched off."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, ModelSummary, ProgressBar
from pytorch_lightning.loggers import Logger

from fwtk_lab.training.loggers import check_extras


def instantiate_enabled(group: DictConfig | None) -> list:
    """Instantiate each entry of a group that has a `_target_`, unless it says `enabled: false`."""
    out = []
    for node in (group or {}).values():
        if not node or not node.get("_target_"):
            continue
        kwargs = OmegaConf.to_container(node, resolve=True)
        if kwargs.pop("enabled", True):
            out.append(instantiate(kwargs))
    return out


def loggers(cfg: DictConfig) -> list[Logger]:
    """The `logger` group's loggers (a clear error first when one needs a missing optional package)."""
    check_extras(cfg.get("logger"))
    return instantiate_enabled(cfg.get("logger"))


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
