"""The Trainer of a run: its loggers, callbacks, resumption callbacks and the atomic checkpoint plugin.

Entries of the `logger` and `callbacks` groups with `enabled: false` are switched off; a logger whose
optional package is missing stops the run before any work.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, ModelSummary, ProgressBar
from pytorch_lightning.loggers import Logger

from fwtk_lab.core.checks import reason, show, whole
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.runs import pruning, tracking
from fwtk_lab.runs.checkpoint_io import AtomicCheckpointIO, BackgroundCheckpointIO
from fwtk_lab.runs.latest_checkpoint import LatestCheckpoint, RNGState
from fwtk_lab.runs.preemption import Preemption
from fwtk_lab.runs.slurm import cluster_plugins

EXTRAS = {"WandbLogger": "wandb", "MLFlowLogger": "mlflow"}  # Lightning logger class -> package = fwtk_lab extra


class MissingExtraError(ConfigError):
    """A chosen logger needs a package that is not installed."""


def check_extras(logger_cfg) -> None:
    """Raise MissingExtraError naming the pip command when a chosen logger's package is missing (before any work)."""
    for name, node in (logger_cfg or {}).items():
        target = str(node.get("_target_", "")) if node else ""
        package = EXTRAS.get(target.rsplit(".", 1)[-1])
        if package and importlib.util.find_spec(package) is None:
            raise MissingExtraError(
                f"logger {name!r} needs the {package} package, which is not installed: "
                f"pip install 'fwtk_lab[{package}]' (or choose logger=tensorboard|csv|many|none)"
            )


def instantiate_enabled(group: DictConfig | None, extra: dict[str, dict] | None = None) -> list:
    """Instantiate each entry of a group that has a `_target_`, unless it says `enabled: false`.

    extra: more keyword arguments by class name (e.g. {"TensorBoard": {"purge_step": 120}}).
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
    MLflow and W&B continue the runs an earlier invocation started (ids in the run directory's tracking.json);
    MLflow gets the config's `tags` and `notes` as tags.
    """
    check_extras(cfg.get("logger"))
    extra = tracking.resume_kwargs(Path(cfg.paths.run_dir), cfg.get("logger"))
    extra.setdefault("MLFlowLogger", {})["tags"] = tracking.mlflow_tags(cfg)
    if purge_step:
        extra["TensorBoard"] = extra["TensorBoardLogger"] = {"purge_step": purge_step}  # ours, or Lightning's
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


def build_trainer(
    cfg: DictConfig, preemption: Preemption | None = None, purge_step: int | None = None, more: tuple = ()
) -> pl.Trainer:
    """The Trainer of the config with its loggers, callbacks, resumption callbacks and the atomic checkpoint plugin.

    purge_step: when resuming from step N, TensorBoard hides what a killed invocation logged after N.
    more: callbacks of the caller's (fwtk_lab.train: the dataset's record in every checkpoint).
    """
    found = loggers(cfg, purge_step=purge_step)
    found_callbacks = callbacks(cfg, has_logger=bool(found))
    ck = cfg.checkpoint
    found_callbacks += [
        LatestCheckpoint(str(Path(cfg.paths.run_dir) / "checkpoints"), ck.every_n_steps, ck.every_minutes, ck.keep),
        RNGState(),
    ]
    found_callbacks += pruning.callbacks(cfg)  # an Optuna trial's run: report val/acc, stop when pruned
    found_callbacks += list(more)
    if preemption is not None:
        found_callbacks.append(preemption)  # after LatestCheckpoint: it reuses that callback to save
    writer = BackgroundCheckpointIO() if ck.get("background") else AtomicCheckpointIO()
    plugins = [writer, *cluster_plugins()]  # under SLURM: Lightning does not requeue (runs.slurm)
    trainer = instantiate(cfg.trainer, logger=found or False, callbacks=found_callbacks, plugins=plugins)
    skip_unused_hooks(trainer.callbacks)
    return trainer


PER_BATCH_HOOKS = (
    "on_train_batch_start",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_train_batch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
)


def skip_unused_hooks(callbacks: list[Callback]) -> None:
    """Set the per-batch hooks a callback's class does not override to None on the callback, so that Lightning
    skips them.

    Lightning calls every per-batch hook of every callback, ~3 us a call even when the hook does nothing (it
    formats the callback's name for its profiler first): with 11 callbacks, 6 hooks a training step, 0.2 ms
    a step. It calls a hook only `if callable(fn)` (trainer/call.py `_call_callback_hooks`; tests/test_per_step.py
    checks that it still does).
    """
    for callback in callbacks:
        for hook in PER_BATCH_HOOKS:
            if getattr(type(callback), hook) is getattr(Callback, hook):
                setattr(callback, hook, None)


TRAINER_COUNTS = (
    ("max_epochs", -1, True),
    ("min_epochs", 0, True),
    ("max_steps", -1, False),
    ("log_every_n_steps", 1, True),
    ("check_val_every_n_epoch", 1, True),
    ("num_sanity_val_steps", -1, True),
    ("accumulate_grad_batches", 1, True),
)


def check_trainer(cfg: DictConfig) -> None:
    """Counts and fractions the Trainer takes unchecked, then the Trainer built once without loggers,
    callbacks or checkpoints (nothing written): its own errors come now."""
    tr = cfg.trainer
    for key, minimum, none_ok in TRAINER_COUNTS:
        if key in tr:
            whole(tr[key], f"trainer.{key}", minimum, none_ok)
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "val_check_interval"):
        v = tr.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float) and v > 1):
            raise ConfigError(
                f"trainer.{key}={show(v)}; accepted: a batch count >= 0, a fraction in [0.0, 1.0], or null"
            )
    v = tr.get("gradient_clip_val")
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
        raise ConfigError(f"trainer.gradient_clip_val={show(v)}; accepted: a number >= 0 or null")

    quiet = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)  # "GPU available: ..." is printed once, by the real Trainer
    try:
        instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    except Exception as e:
        raise ConfigError(f"trainer: {reason(e)}; see the arguments of pytorch_lightning.Trainer") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
