"""The composed config, printed as a tree for people."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def print_config(cfg: DictConfig) -> None:
    """The composed config as a rich tree, one branch per group."""
    from rich import print as rprint
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        branch = tree.add(str(key))
        text = (
            OmegaConf.to_yaml(value, resolve=True)
            if isinstance(value, (DictConfig,)) or OmegaConf.is_list(value)
            else str(value)
        )
        branch.add(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rprint(tree)
