"""Train, then test the best checkpoint: `python -m fwtk_lab.train [model=cnn_rnn] [key=value ...]`.

Rerunning the same command continues the run from its newest checkpoint (`resume=auto`), or says that it
is finished; see README, "Resuming, preemption and sweeps".
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

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core import threads
from fwtk_lab.core.cli import friendly_errors, in_multirun, print_config
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.launch import launch
from fwtk_lab.core.preflight import preflight
from fwtk_lab.core.files import atomic_write_json, atomic_write_text
from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.training import checkpoint_io, components, identity, provenance, resume
from fwtk_lab.training.checkpoint_io import AtomicCheckpointIO
from fwtk_lab.training.checkpoints import LAST, LatestCheckpoint, RNGState
from fwtk_lab.training.loggers import check_extras, log_final
from fwtk_lab.training.aic import train_aic
from fwtk_lab.training.dataset_identity import RecordDataset
from fwtk_lab.training.module import FontClassifier
from fwtk_lab.training.preemption import EXIT_INTERRUPTED, Interrupted, Preemption, signal_numbers

log = logging.getLogger("fwtk_lab.train")
identity.register()  # ${run_dir:} and ${sweep_id:} name the run and sweep directories (Hydra resolves them first)


def build_trainer(cfg: DictConfig, preemption: Preemption | None = None, purge_step: int | None = None) -> pl.Trainer:
    """The Trainer of the config with its loggers, callbacks, resumption callbacks and the atomic checkpoint plugin.

    purge_step: when resuming from step N, TensorBoard hides what a killed invocation logged after N.
    """
    loggers = components.loggers(cfg, purge_step=purge_step)
    callbacks = components.callbacks(cfg, has_logger=bool(loggers))
    ck = cfg.checkpoint
    callbacks += [
        LatestCheckpoint(str(Path(cfg.paths.run_dir) / "checkpoints"), ck.every_n_steps, ck.every_minutes, ck.keep),
        RNGState(),
    ]
    if preemption is not None:
        callbacks.append(preemption)  # after LatestCheckpoint: it reuses that callback to save
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, plugins=[AtomicCheckpointIO()])


def hparams(cfg: DictConfig) -> dict:
    """The values a reader compares runs by, flattened for TensorBoard's hparams table."""
    flat: dict = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not str(k).startswith("_") or k == "_target_":
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, (int, float, str, bool)) or node is None:
            flat[prefix] = "null" if node is None else node
        else:
            flat[prefix] = str(node)

    for key in ("model", "optimizer", "scheduler", "slicer"):
        walk(key, OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) is not None else None)
    walk("dataset", {k: cfg.dataset[k] for k in ("name", "width", "height", "max_chars", "max_phrases", "seed")})
    walk("dataset.fonts", ",".join(map(str, cfg.dataset.fonts)))
    walk(
        "",
        {
            "seed": cfg.seed,
            "batch_size": cfg.data.batch_size,
            "max_epochs": cfg.trainer.max_epochs,
            "precision": str(cfg.trainer.precision),
        },
    )
    return flat


def train(cfg: DictConfig) -> dict:
    """Fit (continuing the run's newest checkpoint), test the chosen checkpoint, write metrics.json."""
    preflight(cfg, "train")  # every start-up check, before any file is written or data built
    run_dir = Path(cfg.paths.run_dir)
    if in_multirun() and str(cfg.trainer.get("strategy", "auto")).startswith("ddp"):
        return train_in_subprocess(cfg, run_dir)
    check_extras(cfg.get("logger"))  # a missing optional package stops the run before any work
    rank0 = identity.env_rank_zero()  # DDP children re-run this function; only the launcher writes and locks
    with resume.locked(run_dir) if rank0 else contextlib.nullcontext():
        budget = {"max_epochs": cfg.trainer.max_epochs, "max_steps": cfg.trainer.max_steps}
        if cfg.resume != "never" and not cfg.ckpt_path and resume.finished(run_dir, budget):
            metrics = json.loads((run_dir / "metrics.json").read_text())
            log.info(
                "this run is finished: test accuracy %.4f, metrics in %s; nothing to do (raise "
                "trainer.max_epochs to continue it, or resume=never for a new run)",
                metrics["test/acc"],
                run_dir / "metrics.json",
            )
            return metrics
        preemption = Preemption(list(cfg.preemption.signals))
        preemption.install()  # a signal during the dataset build or testing stops at once, cleanly
        return _train(cfg, run_dir, rank0, budget, preemption)


def _train(cfg: DictConfig, run_dir: Path, rank0: bool, budget: dict, preemption: Preemption) -> dict:
    n_threads = threads.configure(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    ckpt_path = resume.plan(run_dir, cfg.resume, cfg.ckpt_path, cfg_dict, dm.classes)
    start_step = checkpoint_io.load(ckpt_path)["global_step"] if ckpt_path else 0
    model = FontClassifier(cfg_dict, dm.classes, dm.image_shape)
    trainer = build_trainer(cfg, preemption, purge_step=start_step + 1 if ckpt_path else None)
    trainer.callbacks.append(RecordDataset(dm))  # the dataset's identity goes into every checkpoint
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
    except Interrupted as e:
        record("interrupted", error=str(e))
        raise
    except BaseException as e:
        record("failed", error=f"{type(e).__name__}: {e}")
        raise
    latest = next((cb for cb in trainer.callbacks if isinstance(cb, LatestCheckpoint)), None)
    this["checkpoint_saves"] = latest.saves if latest else 0
    this["checkpoint_seconds"] = round(latest.save_seconds, 3) if latest else 0.0
    record("tested")  # "finished" only once metrics.json is written
    all_runs = invocations + [this]

    val_best = float(ckpt_cb.best_model_score) if ckpt_cb is not None and ckpt_cb.best_model_score is not None else None
    metrics = {
        "test/acc": tested["test/acc"],
        "test/loss": tested["test/loss"],
        "test/aic": tested["test/aic"],
        "test/nll_sum": tested["test/nll_sum"],
        "test/ece": tested.get("test/ece"),  # calibration error of the tested weights, before / after
        "test/ece_calibrated": tested.get("test/ece_calibrated"),  # the temperature fitted on the val split
        "temperature": float(model.temperature),
        "val/acc_best": val_best,
        "val/acc_last": val_last,
        "params": model.num_parameters,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "fit_seconds": round(sum(r.get("fit_seconds", r.get("seconds", 0)) for r in all_runs), 2),
        "test_seconds": round(test_seconds, 2),
        "threads": n_threads,
        "compute_seconds": round(sum(r.get("seconds", 0) for r in all_runs), 2),
        "invocations": all_runs,
        "test_checkpoint": chosen or "(weights at the end of training)",
        "test_acc_per_font": {name: tested.get(f"test/acc_font/{name}") for name in dm.classes},
        "classes": dm.classes,
        "dataset": str(dm.store.root),
        "run_dir": str(run_dir),
        "provenance": prov,
    }
    metrics.update(train_aic(model, dm))  # AIC on the training split, with the tested weights
    if trainer.is_global_zero:
        atomic_write_json(run_dir / "metrics.json", metrics)
        hp_metrics = {
            "hp/test_acc": metrics["test/acc"],
            "hp/test_loss": metrics["test/loss"],
            "hp/test_aic": metrics["test/aic"],
            "hp/params": float(metrics["params"]),
        }
        if val_best is not None:
            hp_metrics["hp/val_acc_best"] = val_best
        log_final(trainer.loggers, {**hparams(cfg), **provenance.flat(prov)}, hp_metrics, trainer.global_step)
        resume.write_status(run_dir, {**resume.read_status(run_dir), "status": "finished"})
        log.info(
            "test accuracy %.4f (loss %.4f, AIC %.1f) | metrics in %s",
            metrics["test/acc"],
            metrics["test/loss"],
            metrics["test/aic"],
            run_dir / "metrics.json",
        )
    return metrics


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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@friendly_errors
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    value = metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    return None if value is None else float(value)


if __name__ == "__main__":
    launch(main, "train", check="train")
