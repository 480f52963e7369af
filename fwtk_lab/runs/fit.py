"""One training run: lock its directory, continue its newest checkpoint, fit, test, record every invocation.

A finished run only reports its metrics; a DDP job inside a local multirun runs in a process of its own
(under SLURM, srun has started every rank: each trains here).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core import threads
from fwtk_lab.core.console import print_config
from fwtk_lab.core.files import atomic_write_text
from fwtk_lab.runs import checkpoint_file, identity, provenance, pruning, results, resume, slurm, tracking
from fwtk_lab.runs.dataset_record import RecordDataset
from fwtk_lab.runs.latest_checkpoint import LAST, LatestCheckpoint, step_of
from fwtk_lab.runs.preemption import EXIT_INTERRUPTED, Interrupted, Preemption, signal_numbers
from fwtk_lab.runs.sweep import in_multirun
from fwtk_lab.runs.trainer import build_trainer, check_extras

log = logging.getLogger("fwtk_lab.train")


def run(cfg: DictConfig) -> dict:
    """Fit (continuing the run's newest checkpoint), test the chosen checkpoint, write metrics.json (config checked)."""
    run_dir = Path(cfg.paths.run_dir)
    ddp = str(cfg.trainer.get("strategy", "auto")).startswith("ddp")
    if in_multirun() and ddp and not slurm.ranks_started_by_srun():
        return train_in_subprocess(cfg, run_dir)
    check_extras(cfg.get("logger"))  # a missing optional package stops the run before any work
    rank0 = identity.env_rank_zero()  # every DDP rank runs this function; only global rank 0 writes and locks
    with resume.locked(run_dir) if rank0 else contextlib.nullcontext():
        budget = {"max_epochs": cfg.trainer.max_epochs, "max_steps": cfg.trainer.max_steps}
        if cfg.resume != "never" and not cfg.ckpt_path and resume.finished(run_dir, budget):
            metrics = json.loads((run_dir / "metrics.json").read_text())
            if metrics.get("pruned"):
                pruning.mark_pruned(cfg, metrics["pruned"])  # this config's trial is told PRUNED too
                log.info(
                    "this run was pruned by Optuna (study %s, trial %s, after epoch %s): test accuracy %.4f, "
                    "metrics in %s; it is not resumed (resume=never for a new run)",
                    *(metrics["pruned"].get(k) for k in ("study", "trial", "epoch")),
                    metrics["test/acc"],
                    run_dir / "metrics.json",
                )
                return metrics
            log.info(
                "this run is finished: test accuracy %.4f, metrics in %s; nothing to do (raise "
                "trainer.max_epochs to continue it, or resume=never for a new run)",
                metrics["test/acc"],
                run_dir / "metrics.json",
            )
            return metrics
        preemption = Preemption(list(cfg.preemption.signals))
        started = {"start": _now(), "t0": time.perf_counter()}
        try:
            preemption.install()  # a signal during the dataset build or testing stops at once, cleanly
            return _train(cfg, run_dir, rank0, budget, preemption)
        except Interrupted as e:
            if rank0 and not getattr(e, "recorded", False):
                record_before_training(run_dir, budget, started, e)
            raise


def record_before_training(run_dir: Path, budget: dict, started: dict, e: Interrupted) -> None:
    """Record an invocation that a signal stopped before training began (e.g. SLURM's early time-limit
    signal while the job was still loading): it ends where it would have started, at the newest checkpoint."""
    saved = [s for s in map(step_of, resume.candidates(run_dir / "checkpoints")) if s >= 0]
    step = max(saved, default=0)
    seconds = round(time.perf_counter() - started["t0"], 2)
    this = {"start": started["start"], "resumed_from": None, "step_start": step, "pid": os.getpid()}
    this.update(end=_now(), step_end=step, seconds=seconds, outcome="interrupted", before_training=True)
    earlier = resume.read_status(run_dir).get("invocations", [])
    invocations = [i for i in earlier if not (i.get("pid") == os.getpid() and "outcome" not in i)] + [this]
    resume.write_status(
        run_dir, {"status": "interrupted", "budget": budget, "invocations": invocations, "error": str(e)}
    )


def _train(cfg: DictConfig, run_dir: Path, rank0: bool, budget: dict, preemption: Preemption) -> dict:
    n_threads = threads.configure(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    dm = instantiate(cfg.datamodule, cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    ckpt_path = resume.plan(run_dir, cfg.resume, cfg.ckpt_path, cfg_dict, dm.classes)
    start_step = checkpoint_file.load(ckpt_path)["global_step"] if ckpt_path else 0
    model = instantiate(cfg.module, cfg_dict, dm.classes, dm.image_shape)
    purge_step = start_step + 1 if ckpt_path else None
    trainer = build_trainer(cfg, preemption, purge_step, more=(RecordDataset(dm),))  # the dataset in every checkpoint
    status = resume.read_status(run_dir) if rank0 else {}
    invocations = status.get("invocations", [])  # earlier invocations of this run, killed ones included
    this = {"start": _now(), "resumed_from": ckpt_path, "step_start": start_step, "pid": os.getpid()}
    prov = provenance.record(cfg, run_dir) if rank0 else {}  # provenance.json
    if rank0:
        print_config(cfg)
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        resume.write_status(run_dir, {"status": "running", "budget": budget, "invocations": invocations + [this]})
        log.info(
            "run dir %s | %d parameters | %d torch threads | dataset %s | %s",
            run_dir,
            model.num_parameters,
            n_threads,
            dm.store.root,
            f"resuming from {ckpt_path}" if ckpt_path else "new run",
        )

    def record(outcome: str, **extra) -> None:
        this.update(
            end=_now(), step_end=trainer.global_step, seconds=round(time.perf_counter() - t0, 2), outcome=outcome
        )
        if rank0:
            resume.write_status(
                run_dir, {"status": outcome, "budget": budget, "invocations": invocations + [this], **extra}
            )

    t0 = time.perf_counter()
    try:
        if rank0:  # MLflow / W&B runs started now, their ids in tracking.json: a rerun continues them
            tracking.record(run_dir, trainer.loggers, tracking.stores(cfg.get("logger")))
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
        val_last = _scalar(trainer.callback_metrics.get("val/acc"))  # before testing replaces callback_metrics
        this["fit_seconds"] = round(time.perf_counter() - t0, 2)
        ckpt_cb = next(
            (cb for cb in trainer.callbacks if isinstance(cb, pl.callbacks.ModelCheckpoint)), None
        )  # the best
        chosen = None
        if ckpt_cb is not None:
            chosen = ckpt_cb.best_model_path if cfg.test_ckpt == "best" else str(run_dir / "checkpoints" / LAST)
        t1 = time.perf_counter()
        tested = trainer.test(model, datamodule=dm, ckpt_path=chosen or None)[0]
        test_seconds = time.perf_counter() - t1
        preemption.tested = True  # a signal from now on lets the run write its results and end
    except Interrupted as e:
        record("interrupted", error=str(e))
        e.recorded = True
        tracking.finish_wandb(trainer.loggers, exit_code=1)
        raise
    except BaseException as e:
        record("failed", error=f"{type(e).__name__}: {e}")
        tracking.finish_wandb(trainer.loggers, exit_code=1)
        raise
    latest = next((cb for cb in trainer.callbacks if isinstance(cb, LatestCheckpoint)), None)
    this["checkpoint_saves"] = latest.saves if latest else 0
    this["checkpoint_seconds"] = round(latest.save_seconds, 3) if latest else 0.0
    pruner = next((cb for cb in trainer.callbacks if isinstance(cb, pruning.OptunaPruning)), None)
    pruned = pruner.record() if pruner else None  # stopped early by its Optuna trial
    record("tested")  # "finished" (or "pruned") only once metrics.json is written
    all_runs = invocations + [this]

    run = results.Tested(tested, all_runs, chosen, test_seconds, val_last, n_threads, prov, pruned)
    return results.write(cfg, run_dir, trainer, model, dm, run)


def train_in_subprocess(cfg: DictConfig, run_dir: Path) -> dict:
    """Run this multirun job as its own `python -m fwtk_lab.train` process (used for DDP jobs).

    Lightning starts DDP ranks by rerunning the command line, which inside `-m` is the whole sweep; and
    a process group does not survive into the next job. A fresh process per job avoids both. The
    configured signals are passed on to it.
    """
    from hydra.core.hydra_config import HydraConfig

    cmd = [
        sys.executable,
        "-m",
        "fwtk_lab.train",
        *HydraConfig.get().overrides.task,
        f"hydra.run.dir={run_dir}",
        "hydra.mode=RUN",
    ]
    child = subprocess.Popen(cmd)
    received: list[int] = []

    def forward(signum, frame):
        received.append(signum)
        child.send_signal(signum)

    for sig in signal_numbers(list(cfg.preemption.signals)):
        signal.signal(sig, forward)
    code = child.wait()
    if code == EXIT_INTERRUPTED:
        raise Interrupted(received[-1] if received else signal.SIGTERM, checkpoint=str(run_dir / "checkpoints"))
    if code != 0:
        raise RuntimeError(f"the DDP job exited with status {code}; its log is in {run_dir}")
    return json.loads((run_dir / "metrics.json").read_text())


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _scalar(x) -> float | None:
    return None if x is None else float(x)
