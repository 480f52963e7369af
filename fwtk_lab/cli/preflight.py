"""One validation pass over a composed config, before any file is written or any data is built.

`preflight(cfg, entry)` checks the schema'd groups (`config.validate`), every top-level key, the
value ranges the schemas cannot express and the cross-field rules (splits non-empty for the
phrase count, jitter within the image, blocks that tile the width, at least two fonts), then
builds the model, optimizer, scheduler and Trainer once so that their own errors come now.
Every failure is a ConfigError: one line naming the key, the value and what is accepted. Each rule
lives with the module that owns the value (data.checks, training.checks, runs.trainer, core.checks);
this module only says which of them an entry point needs.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core import memo
from fwtk_lab.core.checks import check_file, one_of, show, whole, writable_dir
from fwtk_lab.core.config import validate
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.data.checks import check_data, check_dataset
from fwtk_lab.runs.trainer import check_trainer
from fwtk_lab.training.checks import check_model

TEST_CKPTS = ("best", "last")
_PASSED: set[str] = set()  # configs (entry + YAML) that passed in this process: launch's check before Hydra


def preflight(cfg: DictConfig, entry: str) -> None:
    """Validate the config of entry point `entry` (train | data | evaluate) in place; raise ConfigError.

    The schemas always apply (they coerce types in place); the rest runs once per config and process, so
    the job that Hydra starts after `launch` checked the same config does not check it again.
    """
    seen = entry + "\n" + OmegaConf.to_yaml(cfg)
    validate(cfg)
    if seen in _PASSED:
        return
    if entry == "train":
        check_train_keys(cfg)
    if entry == "evaluate":
        check_evaluate_keys(cfg)
    if entry == "data":
        whole(cfg.get("sample_phrase", 0), "sample_phrase", 0)
    if cfg.get("data") is not None:
        check_data(cfg.data)
    if cfg.get("paths") is not None:
        writable_dir("paths.data_dir", cfg.paths.data_dir, exists_ok_readonly=True)
        writable_dir("paths.output_dir", cfg.paths.output_dir)
        memo.use(cfg.paths.data_dir)  # the fonts' checks and the corpus's phrases of earlier runs (core/memo.py)
    n_classes = None
    if cfg.get("dataset") is not None:
        n_classes = check_dataset(cfg.dataset, need_splits=entry == "train")
    if entry == "train":
        check_model(cfg, n_classes)
        check_trainer(cfg)
    _PASSED.add(seen)


def check_train_keys(cfg: DictConfig) -> None:
    whole(cfg.get("seed"), "seed", 0)
    whole(cfg.get("threads"), "threads", 1, none_ok=True)
    one_of(cfg.get("test_ckpt"), "test_ckpt", TEST_CKPTS)
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and ckpt != "last":
        check_file("ckpt_path", ckpt, "a checkpoint file (<run dir>/checkpoints/<file>.ckpt), last, or null")
    metric = cfg.get("optimized_metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"optimized_metric={show(metric)}; accepted: a metrics.json key (e.g. val/acc_best) or null")
    if cfg.get("figures") is not None:
        whole(cfg.figures.get("predictions", 0), "figures.predictions", 0)


def check_evaluate_keys(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            "ckpt_path is required: python -m fwtk_lab.evaluate ckpt_path=<run dir>/checkpoints/<file>.ckpt"
        )
    check_file("ckpt_path", cfg.ckpt_path, "a checkpoint file (<run dir>/checkpoints/<file>.ckpt)")
    whole(cfg.get("threads"), "threads", 1, none_ok=True)
    if cfg.get("data_dir") is not None:
        writable_dir("data_dir", cfg.data_dir, exists_ok_readonly=True)
    if cfg.get("images") is not None and not Path(str(cfg.images)).expanduser().is_dir():
        raise ConfigError(
            f"images={show(cfg.images)} is not a folder; accepted: a folder with manifest.csv (columns file, font) "
            f"or <font>/ sub-folders of images"
        )
    one_of(str(cfg.get("invert", "auto")).lower(), "invert", ("auto", "true", "false"))
