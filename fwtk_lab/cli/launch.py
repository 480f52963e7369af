"""Start an entry point: compose its config the way Hydra will, first, so that what fails before
fwtk_lab's code would run (a misspelled key, an unknown option, an unparsable override, an unusable
run directory) and every start-up check (`preflight`) end in one `error: ...` line and exit 2,
before Hydra creates the run directory.

    if __name__ == "__main__":
        launch(main, "train", check="train")

HYDRA_FULL_ERROR=1 shows the traceback instead. Arguments with Hydra flags (--cfg, --help, -c, ...)
other than -m/--multirun go to Hydra unchecked; in a multirun each sweep takes its first value
here and the per-job checks run inside each job.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Callable, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from fwtk_lab.cli.errors import USER_ERRORS
from fwtk_lab.cli.flat_config import compose_flat
from fwtk_lab.core.checks import writable_dir
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.errors import ConfigError

MULTIRUN = ("-m", "--multirun")
NO_RUN_DIR = ("predict", "calibrate", "agg_lines")  # their run dir is "." and they write nothing there


def launch(
    main: Callable[[], object],
    config_name: str,
    check: str | None = None,
    argv: Sequence[str] | None = None,
    job: Callable[[DictConfig], object] | None = None,
) -> None:
    """Run `precheck`, reporting its errors as one line (exit 2), then hand over to the Hydra `main`.

    With `job` (a command without config groups, run directory or preflight: predict), a command line of
    plain `key=value` overrides is composed by flat_config and given to job(cfg) in this process: neither
    Hydra's plugins (launchers, sweepers) nor its run machinery load. Anything else goes through Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = compose_flat(config_name, args) if job is not None else None
        if cfg is None:
            precheck(config_name, args, check)
    except USER_ERRORS as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        sys.exit(2)
    if cfg is not None:
        job(cfg)
        return
    if argv is None:
        sys.argv += torchrun_rank_overrides(config_name, sys.argv[1:])
    main()


def torchrun_rank_overrides(config_name: str, argv: list[str]) -> list[str]:
    """For a DDP rank after the first that torchrun started (RANK > 0): no `.hydra/` and a log file of its
    own in the shared run directory, as Lightning gives its own DDP children (only rank 0 writes the run's files)."""
    rank = os.environ.get("RANK", "0")
    if "TORCHELASTIC_RUN_ID" not in os.environ or rank == "0" or any(a in MULTIRUN for a in argv):
        return []
    return ["hydra.output_subdir=null", f"hydra.job.name={config_name}_rank{rank}"]


def precheck(config_name: str, argv: list[str], check: str | None = None) -> DictConfig | None:
    """Compose `config_name` with the command line's overrides; check the run directory and run
    `preflight(cfg, check)`. Returns the composed config (None when Hydra flags were given).
    In a multirun every value of every sweep is composed once (and the run checks wait for each job)."""
    if any(a.startswith("-") and a not in MULTIRUN for a in argv):
        return None  # --cfg, --help, -c, --config-name ...: Hydra's own business
    multirun = any(a in MULTIRUN for a in argv)
    overrides = parse([a for a in argv if a not in MULTIRUN])
    variants = sweep_variants(overrides) if multirun else [overrides]
    for variant in variants[1:]:
        compose(config_name, variant)
    cfg = compose(config_name, variants[0])
    run_dir = OmegaConf.select(cfg, "hydra.sweep.dir" if multirun else "hydra.run.dir", default=None)
    if run_dir is not None and config_name not in NO_RUN_DIR:
        out = OmegaConf.select(cfg, "paths.output_dir", default=None)
        under_output = isinstance(out, str) and str(run_dir).startswith(out)
        writable_dir(
            "paths.output_dir" if under_output else ("hydra.sweep.dir" if multirun else "hydra.run.dir"),
            out if under_output else str(run_dir),
        )
        if under_output:
            writable_dir(f"the run directory {run_dir} (under paths.output_dir)", str(run_dir))
    with open_dict(cfg):
        del cfg["hydra"]
    if check is not None and not multirun:
        from fwtk_lab.cli.preflight import preflight

        preflight(cfg, check)
    return cfg


def parse(argv: list[str]) -> list[str]:
    """The overrides, parsed as Hydra will parse them (an unparsable one is a ConfigError)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for line in argv:
        try:
            parser.parse_overrides([line])
        except OverrideParseException as e:
            raise ConfigError(
                f"cannot parse the override {line!r} ({_one_line(e)}); "
                f"accepted: key=value, group=option, +key=value (a new key), ~key (remove)"
            ) from None
    return argv


MAX_VARIANTS = 32  # compositions a multirun pre-check may try


def sweep_variants(argv: list[str]) -> list[list[str]]:
    """Override lists that together cover every value of every sweep once (first values elsewhere);
    sweeps without listable values (interval(...)) are left to the sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    values: list[list[str]] = []
    for line in argv:
        o = parser.parse_overrides([line])[0]
        if not o.is_sweep_override():
            values.append([line])
            continue
        try:
            listed = list(o.sweep_string_iterator())[:MAX_VARIANTS]
        except Exception:
            listed = []
        values.append([f"{o.get_key_element()}={v}" for v in listed])
    base = [v[0] for v in values if v]
    variants = [base]
    for i, vs in enumerate(values):
        for v in vs[1:]:
            if len(variants) >= MAX_VARIANTS:
                return variants
            variants.append([v if j == i else (w[0]) for j, w in enumerate(values) if w])
    return variants


def compose(config_name: str, overrides: list[str]) -> DictConfig:
    """The config Hydra will give the job (with its `hydra` node); composition errors as ConfigError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name=config_name):
            return hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
    except MissingConfigException as e:
        raise ConfigError(_missing_option(e, overrides)) from None
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_composition(e, config_name, overrides)) from None


def _missing_option(e, overrides: list[str]) -> str:
    missing = str(getattr(e, "missing_cfg_file", "") or "")
    options = list(getattr(e, "options", None) or [])
    if "/" in missing and options:
        group, name = missing.rsplit("/", 1)
        return f"{group}={name} is not an option; {group} accepts: {', '.join(sorted(options))}"
    return f"{_one_line(e)}"


def _composition(e: BaseException, config_name: str, overrides: list[str]) -> str:
    text = str(e)
    m = re.search(r"Could not (?:override|append to config)[^']*'([^']+)'", text)
    if m is None:
        return _one_line(e)
    key = m.group(1).lstrip("+~")
    parent, _, leaf = key.rpartition(".")
    cause = _one_line(e.__cause__) if e.__cause__ is not None else ""
    others = [o for o in overrides if not o.lstrip("+~").startswith(key + "=") and "." not in o.split("=", 1)[0]]
    accepted = _keys_at(config_name, others, parent)
    where = parent or "the top level"
    if "not in struct" in cause or "is not in struct" in text:
        msg = f"config key {key} does not exist"
    else:
        msg = f"cannot set {key} ({cause or _one_line(e)})"
    return f"{msg}; {where} accepts: {accepted}" if accepted else f"{msg}"


def _keys_at(config_name: str, group_overrides: list[str], parent: str) -> str:
    """The keys under `parent` of the config composed with only the group choices."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name=config_name):
            cfg = hydra_compose(config_name, overrides=group_overrides)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:
        return ""
    if not isinstance(node, DictConfig):
        return ""
    return ", ".join(str(k) for k in node.keys() if not str(k).startswith("_"))


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return " ".join(ln for ln in lines if not ln.startswith("Set the environment variable HYDRA_FULL_ERROR"))
