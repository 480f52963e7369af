"""What every entry point shares: one clear line for bad input, the config tree, seeding and threads."""
from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from typing import Callable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fwtk_lab.training.checkpoint_io import CheckpointError
from fwtk_lab.core.config import ConfigError
from fwtk_lab.data.corpus import CorpusError
from fwtk_lab.data.fonts import FontError
from fwtk_lab.models.slicer import SlicerError
from fwtk_lab.data.store import CacheError

log = logging.getLogger("fwtk_lab")

# Known, harmless library noise (we do not count FLOPs; a Lightning/torch pytree deprecation).
warnings.filterwarnings("ignore", message=".*flops_per_batch.*")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
USER_ERRORS = (ConfigError, CorpusError, FontError, SlicerError, CacheError, CheckpointError,
               OmegaConfBaseException, ValueError, FileNotFoundError)


def friendly_errors(fn: Callable) -> Callable:
    """Bad input ends the program with one `error: ...` line on stderr and exit status 2 (no traceback).

    HYDRA_FULL_ERROR=1 (Hydra's own switch) shows the traceback instead.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper


def print_config(cfg: DictConfig) -> None:
    """The composed config as a rich tree, one branch per group."""
    from rich import print as rprint
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        branch = tree.add(str(key))
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, (DictConfig,)) or OmegaConf.is_list(value) else str(value)
        branch.add(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rprint(tree)
