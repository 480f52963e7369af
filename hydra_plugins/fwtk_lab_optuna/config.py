"""The sweeper's config schema, registered as `hydra/sweeper: fwtk_optuna` (conf/hparams_search/optuna.yaml)."""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    """Keys of `hydra.sweeper` (sampler and pruner are instantiated by the sweeper, not by Hydra)."""

    _target_: str = "hydra_plugins.fwtk_lab_optuna.sweeper.OptunaSweeper"
    _recursive_: bool = False  # sampler/pruner arrive as configs: the pruner's is stored with the study
    storage: Optional[str] = None  # an Optuna storage URL; null: in memory (no resuming, no pruning)
    study_name: Optional[str] = None
    direction: str = "maximize"  # maximize | minimize
    n_trials: int = 20  # trials of the whole study: a rerun runs only those still owed
    n_jobs: int = 1  # trials launched together (one launcher batch)
    sampler: Any = None  # e.g. {_target_: optuna.samplers.TPESampler, seed: 0}; null: Optuna's default
    pruner: Any = None  # e.g. {_target_: optuna.pruners.MedianPruner}; null: no pruning
    params: Dict[str, str] = field(default_factory=dict)  # key: Hydra sweep syntax (interval, choice, range, tag)


ConfigStore.instance().store(group="hydra/sweeper", name="fwtk_optuna", node=OptunaSweeperConf, provider="fwtk_lab")
