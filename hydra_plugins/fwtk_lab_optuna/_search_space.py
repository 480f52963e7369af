"""Hydra sweep overrides as Optuna distributions: interval(a, b), int(interval(a, b)), tag(log, interval(...)),
choice(...), a,b,c and range(...); parsed by Hydra's own OverridesParser."""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from fwtk_lab.core.errors import ConfigError


class SearchSpaceError(ConfigError):
    """A `hydra.sweeper.params` entry that Optuna cannot search."""


def parse(lines: list[str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """(distributions to search, fixed values) by key; a later line for the same key replaces an earlier one."""
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return space, fixed


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    value = override.value()
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    choices = list(override.sweep_iterator(transformer=Transformer.encode))  # lists and dicts: as override text
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        steps = {b - a for a, b in zip(choices, choices[1:])}
        if not value.shuffle and choices and all(isinstance(c, int) for c in choices) and len(steps) <= 1:
            return IntDistribution(choices[0], choices[-1], step=steps.pop() if steps else 1)
    if not choices:
        raise SearchSpaceError(f"{override.input_line}: an empty sweep; accepted: a sweep of at least one value")
    return CategoricalDistribution(choices)


def as_override(key: str, value: Any) -> str:
    """`key=value` as Hydra parses it back (null for None)."""
    return f"{key}={'null' if value is None else value}"
