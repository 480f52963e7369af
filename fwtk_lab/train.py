"""Train, then test the best checkpoint: `python -m fwtk_lab.train [model=cnn_rnn] [key=value ...]`."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core import threads
from fwtk_lab.training.checkpoint_io import AtomicCheckpointIO
from fwtk_lab.core.cli import friendly_errors, print_config
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.launch import launch
from fwtk_lab.core.preflight import preflight
from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.core.files import atomic_write_json, atomic_write_text
from fwtk_lab.training.dataset_identity import RecordDataset
from fwtk_lab.training.module import FontClassifier

log = logging.getLogger("fwtk_lab.train")


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """The Trainer of the config with its loggers, callbacks and the atomic checkpoint plugin."""
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c and c.get("_target_")]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and c.get("_target_")]
    if not loggers:  # logger=none: a learning-rate monitor has nowhere to write (Lightning refuses it)
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
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
    walk("", {"seed": cfg.seed, "batch_size": cfg.data.batch_size, "max_epochs": cfg.trainer.max_epochs,
              "precision": str(cfg.trainer.precision)})
    return flat


def train(cfg: DictConfig) -> dict:
    """Fit, test the chosen checkpoint on the test split, write metrics.json; return the metrics."""
    preflight(cfg, "train")
    n_threads = threads.configure(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    run_dir = Path(cfg.paths.run_dir)

    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    model = FontClassifier(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(RecordDataset(dm))  # the dataset's identity goes into every checkpoint
    if trainer.is_global_zero:
        print_config(cfg)
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        log.info("run dir %s | %d parameters | %d torch threads | dataset %s", run_dir, model.num_parameters,
                 n_threads, dm.store.root)

    ckpt_path = cfg.ckpt_path
    if ckpt_path == "last":
        ckpt_path = str(run_dir / "checkpoints" / "last.ckpt")
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - t0

    val_last = _scalar(trainer.callback_metrics.get("val/acc"))  # before testing replaces callback_metrics
    ckpt_cb = trainer.checkpoint_callback
    chosen = None
    if ckpt_cb is not None:
        chosen = ckpt_cb.best_model_path if cfg.test_ckpt == "best" else ckpt_cb.last_model_path
    t0 = time.perf_counter()
    tested = trainer.test(model, datamodule=dm, ckpt_path=chosen or None)[0]
    test_seconds = time.perf_counter() - t0

    val_best = float(ckpt_cb.best_model_score) if ckpt_cb is not None and ckpt_cb.best_model_score is not None else None
    metrics = {
        "test/acc": tested["test/acc"], "test/loss": tested["test/loss"], "test/aic": tested["test/aic"],
        "test/nll_sum": tested["test/nll_sum"], "val/acc_best": val_best,
        "val/acc_last": val_last,
        "params": model.num_parameters, "epochs": trainer.current_epoch, "global_step": trainer.global_step,
        "fit_seconds": round(fit_seconds, 2), "test_seconds": round(test_seconds, 2), "threads": n_threads,
        "test_checkpoint": chosen or "(weights at the end of training)",
        "test_acc_per_font": {name: tested.get(f"test/acc_font/{name}") for name in dm.classes},
        "classes": dm.classes, "dataset": str(dm.store.root),
    }
    if trainer.is_global_zero:
        atomic_write_json(run_dir / "metrics.json", metrics)
        hp_metrics = {"hp/test_acc": metrics["test/acc"], "hp/test_loss": metrics["test/loss"],
                      "hp/test_aic": metrics["test/aic"], "hp/params": float(metrics["params"])}
        if val_best is not None:
            hp_metrics["hp/val_acc_best"] = val_best
        for lg in trainer.loggers:
            lg.log_hyperparams(hparams(cfg), hp_metrics)
            lg.finalize("success")
        log.info("test accuracy %.4f (loss %.4f, AIC %.1f) | metrics in %s", metrics["test/acc"],
                 metrics["test/loss"], metrics["test/aic"], run_dir / "metrics.json")
    return metrics


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
