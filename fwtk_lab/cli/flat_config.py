"""The config of a command without config groups (conf/predict.yaml), composed from the YAML file and the
command line's `key=value` overrides without Hydra's compose API: that API scans and imports every launcher
and sweeper plugin first, which `python -m fwtk_lab.predict` should not wait for.

Hydra parses the overrides (same syntax, same values); anything beyond `key=value` (its flags, -m, sweeps,
+key, ~key, hydra.* settings, a config group) returns None, and the command goes through Hydra as before.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.errors import ConfigError


def compose_flat(config_name: str, argv: list[str]) -> DictConfig | None:
    """conf/<config_name>.yaml (struct mode, no `hydra` node) with argv's `key=value` overrides applied;
    None when argv or the file needs Hydra itself. An unknown key is a ConfigError naming the accepted ones."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    if any(a.startswith("-") for a in argv):
        return None
    try:
        overrides = OverridesParser.create().parse_overrides(list(argv))
    except OverrideParseException:
        return None  # Hydra's path reports it (fwtk_lab.cli.launch.parse)
    edits = [o.is_sweep_override() or o.is_add() or o.is_delete() or o.is_force_add() for o in overrides]
    if any(edits) or any(o.package is not None or o.key_or_group.split(".")[0] == "hydra" for o in overrides):
        return None
    cfg = OmegaConf.load(CONF_DIR / f"{config_name}.yaml")
    defaults = list(cfg.get("defaults") or [])
    if any(d != "_self_" and not (isinstance(d, DictConfig) and _hydra_only(d)) for d in defaults):
        return None  # config groups: Hydra composes them
    cfg = OmegaConf.create({k: v for k, v in cfg.items_ex(resolve=False) if k not in ("defaults", "hydra")})
    OmegaConf.set_struct(cfg, True)
    for o in overrides:
        _set(cfg, o.key_or_group, o.value())
    return cfg


def _hydra_only(entry: DictConfig) -> bool:
    """A defaults entry that only sets Hydra's own groups (`override hydra/job_logging: none`)."""
    return all(str(k).replace("override ", "").strip().startswith("hydra/") for k in entry.keys())


def _set(cfg: DictConfig, key: str, value: object) -> None:
    """cfg.key = value, as Hydra applies `key=value`; an unknown key names the accepted ones."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node.keys():
        where = parent or "the top level"
        accepted = ", ".join(str(k) for k in node.keys()) if isinstance(node, DictConfig) else ""
        msg = f"config key {key} does not exist"
        raise ConfigError(f"{msg}; {where} accepts: {accepted}" if accepted else msg)
    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as e:
        reason = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise ConfigError(f"cannot set {key} ({reason})") from None
