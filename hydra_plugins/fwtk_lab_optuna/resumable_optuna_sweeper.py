"""hydra-optuna-sweeper with a persistent study: `n_trials` counts the whole study, so rerunning an
interrupted search runs only the trials it still owes (finished and failed trials count as done)."""

from __future__ import annotations

import logging
from typing import Any, List, Optional

import optuna
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

log = logging.getLogger("fwtk_lab.optuna")


class ResumableOptunaSweeper(OptunaSweeper):
    def sweep(self, arguments: List[str]) -> Optional[Any]:
        impl = self.sweeper
        if impl.storage:
            try:
                study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
                done = sum(t.state.is_finished() for t in study.trials)
            except KeyError:  # no such study yet
                done = 0
            if done:
                log.info(
                    "study %s in %s has %d finished trials; running %d more",
                    impl.study_name,
                    impl.storage,
                    done,
                    max(impl.n_trials - done, 0),
                )
            impl.n_trials = max(impl.n_trials - done, 0)
        return impl.sweep(arguments)
