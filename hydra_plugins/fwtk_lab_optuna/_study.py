"""The search itself: open or continue the study, queue interrupted trials again, ask, launch, tell."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate
from omegaconf import OmegaConf
from optuna.trial import TrialState

from fwtk_lab.core.files import atomic_write_text
from fwtk_lab.runs.pruning import INTERRUPTED_ATTR, PRUNED_ATTR, PRUNER_ATTR, connect
from hydra_plugins.fwtk_lab_optuna import _search_space

if TYPE_CHECKING:
    from hydra_plugins.fwtk_lab_optuna.sweeper import OptunaSweeper

log = logging.getLogger("fwtk_lab.optuna")


def run(sweeper: OptunaSweeper, arguments: list[str]) -> None:
    """Run the trials the study still owes (n_trials counts the whole study), n_jobs at a time."""
    space, fixed = _search_space.parse([f"{k}={v}" for k, v in sweeper.params.items()] + arguments)
    study = open_study(sweeper)
    queued = requeue_interrupted(study)
    done = sum(1 for t in study.get_trials(deepcopy=False) if counts(t))
    owed = max(sweeper.n_trials - done, 0)
    log.info(
        "study %s in %s has %d finished trials%s; running %d more",
        study.study_name,
        sweeper.storage or "memory",
        done,
        f" ({queued} interrupted ones queued again)" if queued else "",
        owed,
    )
    while owed > 0:
        trials = [study.ask(space) for _ in range(min(owed, sweeper.n_jobs))]
        returns = sweeper.launch([job_overrides(sweeper, study, t, fixed) for t in trials])
        for trial, ret in zip(trials, returns):
            tell(study, trial, ret)
        owed -= len(trials)
    write_results(study, Path(str(sweeper.config.hydra.sweep.dir)))


def continued_seed(sampler_cfg: dict, trials: int) -> dict:
    """The sampler's config with its seed moved on by the study's trial count: a continued study must not
    draw its first trials' parameters again (a seeded sampler restarts its random stream in each process)."""
    if sampler_cfg.get("seed") is None or not trials:
        return sampler_cfg
    return {**sampler_cfg, "seed": int(sampler_cfg["seed"]) + trials}


def open_study(sweeper: OptunaSweeper) -> optuna.Study:
    """The study (created, or loaded to be continued) with this config's sampler and pruner."""
    from hydra_plugins.fwtk_lab_optuna.sweeper import SweeperConfigError

    url = sweeper.storage
    if url and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=connect(url) if url else None,
        pruner=instantiate(sweeper.pruner_cfg) if sweeper.pruner_cfg else optuna.pruners.NopPruner(),
        study_name=sweeper.study_name,
        direction=sweeper.direction,
        load_if_exists=True,
    )
    if sweeper.sampler_cfg:
        study.sampler = instantiate(continued_seed(sweeper.sampler_cfg, len(study.get_trials(deepcopy=False))))
    if study.direction.name.lower() != sweeper.direction:
        raise SweeperConfigError(
            f"hydra.sweeper.direction={sweeper.direction!r}, but study {study.study_name!r} in {url} is set to "
            f"{study.direction.name.lower()}; accepted: the study's direction, or another hydra.sweeper.study_name"
        )
    study.set_user_attr(PRUNER_ATTR, sweeper.pruner_cfg)  # the jobs build the same pruner from it
    if sweeper.pruner_cfg and not url:
        log.warning("hydra.sweeper.pruner is set but storage is null: jobs cannot reach the study; no pruning")
    return study


def job_overrides(sweeper: OptunaSweeper, study: optuna.Study, trial: optuna.Trial, fixed: dict) -> list[str]:
    """A trial's parameters, the fixed overrides, and where its job reports to (stored study with a pruner)."""
    out = [_search_space.as_override(k, v) for k, v in trial.params.items()]
    out += [f"{k}={v}" for k, v in fixed.items()]
    if sweeper.storage and sweeper.pruner_cfg:
        out += [
            f"+optuna.storage='{sweeper.storage}'",
            f"+optuna.study='{study.study_name}'",
            f"+optuna.trial={trial.number}",
        ]
    return out


def requeue_interrupted(study: optuna.Study) -> int:
    """Trials a killed search left RUNNING: marked FAIL (interrupted, not counted) and queued again."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
        optuna.trial.Trial(study, t._trial_id).set_user_attr(INTERRUPTED_ATTR, True)
        study.tell(t.number, state=TrialState.FAIL)
        log.warning("trial %d was interrupted (left RUNNING); queued again with the same parameters", t.number)
    return len(stale)


def counts(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts towards n_trials: finished, unless it was interrupted and queued again."""
    return t.state.is_finished() and not t.user_attrs.get(INTERRUPTED_ATTR)


def tell(study: optuna.Study, trial: optuna.Trial, ret: JobReturn) -> None:
    """Tell the trial its job's outcome: PRUNED (its pruning callback said so), COMPLETE, or FAIL."""
    value: Any = ret.return_value if ret.status == JobStatus.COMPLETED else None
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))  # fresh from the storage (the job's
    pruned_at = next((t.user_attrs.get(PRUNED_ATTR) for t in running if t.number == trial.number), None)  # writes)
    if pruned_at is not None:
        study.tell(trial, state=TrialState.PRUNED)
        log.info("trial %d: pruned after epoch %s", trial.number, pruned_at)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        study.tell(trial, float(value))
        log.info("trial %d: %s", trial.number, value)
    else:
        why = f"{type(ret._return_value).__name__}: {ret._return_value}" if ret.status == JobStatus.FAILED else value
        study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d failed (job returned %s); recorded as FAIL, the search goes on", trial.number, why)


def write_results(study: optuna.Study, sweep_dir: Path) -> None:
    """`<sweep dir>/optimization_results.yaml`: the best parameters and value, and the trial count by state."""
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    result: dict[str, Any] = {"name": "optuna", "study_name": study.study_name}
    result["trials"] = {s: states.count(s) for s in sorted(set(states))}
    if "COMPLETE" in states:
        best = study.best_trial
        result.update(best_params=best.params, best_value=best.value, best_trial=best.number)
        log.info("best value %s with %s (trial %d)", best.value, best.params, best.number)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sweep_dir / "optimization_results.yaml", OmegaConf.to_yaml(OmegaConf.create(result)))
