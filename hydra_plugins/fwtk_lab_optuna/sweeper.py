"""A Hydra sweeper on Optuna's ask/tell API with a persistent, resumable study and pruning.

`n_trials` counts the whole study: a rerun runs only the trials still owed, and first queues again the trials
a killed search left RUNNING (same parameters: their runs resume from their checkpoints). Trials are launched
through Hydra's configured launcher in batches of `n_jobs`. With a pruner, each job gets `+optuna.storage`,
`+optuna.study` and `+optuna.trial`, so that fwtk_lab's pruning callback reports to its trial from any process.
This module imports no Optuna (Hydra imports it at every start); the work is in `_study.py`.
"""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core.errors import ConfigError

DIRECTIONS = ("maximize", "minimize")


class SweeperConfigError(ConfigError):
    """A `hydra.sweeper` value the Optuna sweeper cannot use."""


class OptunaSweeper(Sweeper):
    """Ask a batch of trials, launch their jobs, tell each its job's outcome, until the study has n_trials."""

    def __init__(
        self,
        storage: str | None,
        study_name: str | None,
        direction: str,
        n_trials: int,
        n_jobs: int,
        sampler: DictConfig | None,
        pruner: DictConfig | None,
        params: DictConfig | None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise SweeperConfigError(f"hydra.sweeper.direction={direction!r}; accepted: {', '.join(DIRECTIONS)}")
        for key, v, low in (("n_trials", n_trials, 0), ("n_jobs", n_jobs, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise SweeperConfigError(f"hydra.sweeper.{key}={v!r}; accepted: a whole number >= {low}")
        self.storage, self.study_name, self.direction = storage, study_name, direction
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.sampler_cfg: dict | None = _plain(sampler)
        self.pruner_cfg: dict | None = _plain(pruner)
        self.params = {str(k): str(v) for k, v in (_plain(params) or {}).items()}
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from hydra_plugins.fwtk_lab_optuna import _study

        _study.run(self, list(arguments))

    def launch(self, overrides: list[list[str]]) -> list:
        """Run one batch of jobs through the configured launcher; their JobReturns in order."""
        returns = list(self.launcher.launch(overrides, initial_job_idx=self.job_idx))
        self.job_idx += len(returns)
        return returns


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
