"""Shared fixtures: tiny generated datasets (3 fonts, a couple of hundred phrases) and config helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core.config import CONF_DIR, DatasetConfig, validate

torch.set_num_threads(1)  # 2 shared cores: one busy-waiting thread per process is plenty

TINY_FONTS = ["DejaVuSans", "DejaVuSerif", "cmr10"]
TINY = [
    "dataset.max_phrases=200",
    f"dataset.fonts=[{','.join(TINY_FONTS)}]",
    "dataset.build_workers=1",
    "data.batch_size=32",
    "data.eval_batch_size=256",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=2",
    "threads=1",
]


def compose_train(overrides: list[str], tmp: Path) -> DictConfig:
    """The train config as Hydra composes it, with paths under tmp (no Hydra run needed)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "train",
            overrides=[
                f"paths.data_dir={tmp / 'data'}",
                f"paths.output_dir={tmp / 'outputs'}",
                f"paths.run_dir={tmp / 'run'}",
                *TINY,
                *overrides,
            ],
        )
    validate(cfg)
    return cfg


def dataset_cfg(**values) -> DatasetConfig:
    """A validated tiny dataset config (var_jitter, 3 fonts, 200 phrases) with `values` overriding."""
    cfg = OmegaConf.structured(DatasetConfig)
    cfg.fonts = list(TINY_FONTS)
    cfg.max_phrases = 200
    cfg.build_workers = 1
    for k, v in values.items():
        OmegaConf.update(cfg, k, v, merge=False)
    return cfg


def run_cli(
    module: str, *args: str, cwd: Path | None = None, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m module args...` as a user would; returns the completed process (text output)."""
    env = {**(env or os.environ), "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data directory for the session, so the tiny datasets are built once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def tiny_store(data_dir):
    """The tiny var_jitter dataset, built once per session."""
    from fwtk_lab.data.dataset import prepare

    return prepare(dataset_cfg(), data_dir)


def embedded(name: str) -> str:
    """The path of one of matplotlib's embedded fonts by file stem."""
    from fwtk_lab.data.fonts import embedded_dir

    return str(embedded_dir() / f"{name}.ttf")


def copy_cache(src, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of a built cache (its own data dir, same directory name): (data_dir, cache root)."""
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    root = data / src.root.name
    shutil.copytree(src.root, root)
    return data, root
