"""A page's own text and checks, as data: title, legend, row order, series_recipe fallbacks, expectations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fwtk_lab.report.runs import ReportError

OPS = (">", ">=", "<", "<=", "between")
ORDERED = ("step", "variant")
ACCEPTED = (
    "a mapping with any of title (text), legend (text), order ({step: [values], variant: [values]}: these first, "
    "in this order), series_recipe ({model: recipe, '*': recipe}: for runs without series.series_recipe), "
    "curves_title (text), expectations_heading (text), expectations (a list of {text, row: {label: value}, "
    f"op: one of {', '.join(OPS)}, value: number ([low, high] for between), metric (default test/acc), "
    "percent (default true), compare: {row, text, difference}})"
)


@dataclass(frozen=True)
class Compare:
    """A second row's value shown under a check, with the difference from the checked one."""

    row: dict
    text: str
    difference: str


@dataclass(frozen=True)
class Check:
    """`metric` of the row matching `row` compared with `value` by `op`."""

    text: str
    row: dict
    op: str
    value: float | tuple[float, float]
    metric: str = "test/acc"
    percent: bool = True
    compare: Compare | None = None


@dataclass(frozen=True)
class Spec:
    title: str | None = None
    legend: str = ""
    order: dict[str, list[str]] = field(default_factory=dict)
    series_recipe: dict[str, str] = field(default_factory=dict)
    curves_title: str = "learning curves"
    expectations_heading: str = "Expectations"
    expectations: list[Check] = field(default_factory=list)


class _Bad(Exception):
    """One thing wrong with a spec, said without the file's name."""


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{where} must be text, not {value!r}")
    return value


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _Bad(f"{where} must be a mapping of names, not {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{where} must be a number, not {value!r}")
    return float(value)


def _keys(given: dict, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    missing = [k for k in required if k not in given]
    if unknown or missing:
        said = [f"unknown {', '.join(unknown)}"] if unknown else []
        said += [f"missing {', '.join(missing)}"] if missing else []
        raise _Bad(f"{where}: {'; '.join(said)}")


def _check(item: object, where: str) -> Check:
    item = _mapping(item, where)
    _keys(item, ("text", "row", "op", "value", "metric", "percent", "compare"), ("text", "row", "op", "value"), where)
    op = item["op"]
    if op not in OPS:
        raise _Bad(f"{where}.op {op!r} is not one of {', '.join(OPS)}")
    if op == "between":
        pair = item["value"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Bad(f"{where}.value must be [low, high] for between, not {pair!r}")
        value: float | tuple[float, float] = (_number(pair[0], f"{where}.value"), _number(pair[1], f"{where}.value"))
    else:
        value = _number(item["value"], f"{where}.value")
    compare = None
    if "compare" in item:
        c = _mapping(item["compare"], f"{where}.compare")
        _keys(c, ("row", "text", "difference"), ("row", "text", "difference"), f"{where}.compare")
        compare = Compare(
            _mapping(c["row"], f"{where}.compare.row"),
            _text(c["text"], f"{where}.compare.text"),
            _text(c["difference"], f"{where}.compare.difference"),
        )
    percent = item.get("percent", True)
    if not isinstance(percent, bool):
        raise _Bad(f"{where}.percent must be true or false, not {percent!r}")
    return Check(
        text=_text(item["text"], f"{where}.text"),
        row=_mapping(item["row"], f"{where}.row"),
        op=op,
        value=value,
        metric=_text(item.get("metric", "test/acc"), f"{where}.metric"),
        percent=percent,
        compare=compare,
    )


def _spec(data: object) -> Spec:
    if data is None:
        return Spec()
    data = _mapping(data, "the file")
    texts = ("title", "legend", "curves_title", "expectations_heading")
    _keys(data, (*texts, "order", "series_recipe", "expectations"), (), "the file")
    given = {k: _text(data[k], k) for k in texts if k in data}
    order = _mapping(data.get("order", {}), "order")
    _keys(order, ORDERED, (), "order")
    for k, values in order.items():
        if not isinstance(values, list):
            raise _Bad(f"order.{k} must be a list of values, not {values!r}")
    recipes = _mapping(data.get("series_recipe", {}), "series_recipe")
    checks = data.get("expectations", [])
    if not isinstance(checks, list):
        raise _Bad(f"expectations must be a list, not {checks!r}")
    return Spec(
        **given,
        order={k: [str(v) for v in values] for k, values in order.items()},
        series_recipe={str(k): _text(v, f"series_recipe.{k}") for k, v in recipes.items()},
        expectations=[_check(c, f"expectations[{i}]") for i, c in enumerate(checks)],
    )


def load_spec(path: str | Path) -> Spec:
    """The spec in YAML file `path`; a ReportError naming the file and what is accepted when it cannot be used."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReportError(f"spec {path}: cannot be read ({' '.join(str(e).split())}); accepted: {ACCEPTED}") from None
    try:
        return _spec(data)
    except _Bad as e:
        raise ReportError(f"spec {path}: {e}; accepted: {ACCEPTED}") from None
