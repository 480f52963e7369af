"""The `logger` group: optional packages checked up front, and the same final hparams + metrics for every logger."""

from __future__ import annotations

import importlib.util

from pytorch_lightning.loggers import Logger, TensorBoardLogger

from fwtk_lab.core.config import ConfigError

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


def log_final(loggers: list[Logger], params: dict, metrics: dict, step: int) -> None:
    """Give every logger the run's hparams and final metrics (TensorBoard: its hparams table), then finalize it."""
    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            lg.log_hyperparams(params, metrics)
        else:
            lg.log_hyperparams(params)
            lg.log_metrics(metrics, step=step)
        lg.finalize("success")
