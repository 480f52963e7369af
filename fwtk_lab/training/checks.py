"""The model, slicer, optimizer and scheduler of a config, built once on dummy classes so that their errors come first."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core.checks import one_of, positive_number, reason, whole
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.training.module import FontClassifier

INTERVALS = ("epoch", "step")


def check_model(cfg: DictConfig, n_classes: int | None) -> None:
    """Build the slicer, model, optimizer and scheduler once on a dummy class list: their errors come now."""
    opt = cfg.get("optimizer")
    if opt is not None and "lr" in opt:
        positive_number(opt.lr, "optimizer.lr")
    sched = cfg.get("scheduler")
    if sched is not None and sched.get("_target_"):
        one_of(sched.get("interval", "epoch"), "scheduler.interval", INTERVALS)
    slicer = cfg.get("slicer")
    if slicer is not None and slicer.get("stride") is not None and slicer.get("width") is not None:
        whole(slicer.width, "slicer.width", 1)
        whole(slicer.stride, "slicer.stride", 1)
        if slicer.stride > slicer.width:
            raise ConfigError(
                f"slicer.stride={slicer.stride} is larger than slicer.width={slicer.width}: columns "
                f"between blocks would never be seen; accepted: a stride <= the width (null: the width)"
            )
    part = {
        k: OmegaConf.to_container(cfg[k], resolve=True) if cfg.get(k) is not None else None
        for k in ("slicer", "model", "optimizer", "scheduler")
    }  # resolved against the whole config
    shape = (cfg.dataset.height, cfg.dataset.width)
    classes = [f"class{k}" for k in range(n_classes or 2)]
    try:
        model = FontClassifier(part, classes, shape)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"model/slicer: {reason(e)}") from None
    try:
        model.configure_optimizers()
    except Exception as e:
        raise ConfigError(f"optimizer/scheduler: {reason(e)}") from None
