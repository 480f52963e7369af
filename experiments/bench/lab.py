"""The fwtk_lab entry points the benchmarks use: the one module of the package that imports fwtk_lab."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from experiments.bench.tiny import ONE_PARAMETER
from fwtk_lab.core.config import CONF_DIR, validate
from fwtk_lab.core.files import atomic_write_text
from fwtk_lab.data import dataset as dataset_lib
from fwtk_lab.data import fonts as fontlib
from fwtk_lab.data import render_jobs
from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.runs import identity
from fwtk_lab.runs.dataset_record import RecordDataset
from fwtk_lab.runs.preemption import Preemption
from fwtk_lab.runs.trainer import build_trainer
from fwtk_lab.training.module import FontClassifier

__all__ = [
    "FontClassifier",
    "FontDataModule",
    "atomic_write_text",
    "build_trainer",
    "classifier",
    "compose",
    "dataset_lib",
    "render_jobs",
    "datamodule",
    "default_store",
    "fontlib",
    "make_encoder",
    "manual_classifier",
    "model_overrides",
    "run_trainer",
]


def model_overrides(model: str) -> list[str]:
    """`model=NAME`, or for `one_parameter` the 1-parameter encoder of experiments/bench/tiny.py."""
    return list(ONE_PARAMETER) if model == "one_parameter" else [f"model={model}"]


def run_trainer(cfg: DictConfig, dm: FontDataModule):
    """The Trainer `fwtk_lab.train` builds: the config's loggers and callbacks, resumption, preemption, the dataset record."""
    return build_trainer(cfg, Preemption(list(cfg.preemption.signals)), more=(RecordDataset(dm),))


def compose(overrides: list[str], tmp: Path) -> DictConfig:
    """The train config as the command composes it, with outputs in tmp and the worktree's data cache."""
    identity.register()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = hydra_compose(
            "train",
            overrides=[f"paths.output_dir={tmp / 'outputs'}", f"paths.run_dir={tmp / 'run'}", "threads=1", *overrides],
        )
    validate(cfg)
    return cfg


def datamodule(cfg: DictConfig) -> FontDataModule:
    """The config's data module, set up for fitting (its dataset built if absent)."""
    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    return dm


def default_store() -> FontDataModule:
    """The default dataset (var_jitter, five fonts), built if absent, and its split rows."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([], Path(tmp))
    return datamodule(cfg)


def classifier(cfg: DictConfig, classes: list[str], image_shape: tuple[int, int], manual: bool = False):
    """FontClassifier of the config (or its manual-optimization subclass)."""
    cls = manual_classifier() if manual else FontClassifier
    return cls(OmegaConf.to_container(cfg, resolve=True), classes, image_shape)


def make_encoder(model: str, seed: int = 0) -> FontClassifier:
    """A FontClassifier of `model` on five classes and 16x64 images, seeded (its slicer and encoder are used)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(model_overrides(model), Path(tmp))
    torch.manual_seed(seed)
    return classifier(cfg, ["a", "b", "c", "d", "e"], (16, 64))


def manual_classifier() -> type[FontClassifier]:
    """FontClassifier with Lightning's manual optimization (no scheduler stepping: a measurement, not a product)."""

    class ManualFontClassifier(FontClassifier):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            opt = self.optimizers()
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
            return loss

    return ManualFontClassifier
