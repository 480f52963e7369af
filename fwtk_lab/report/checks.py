"""A spec's expectations against the rows: each met / NOT met with the measured number, or not run."""

from __future__ import annotations

from fwtk_lab.report.spec import Check
from fwtk_lab.report.table import Row, find, fmt


def holds(check: Check, value: float) -> bool:
    """Whether `value` satisfies the check's comparison."""
    if isinstance(check.value, tuple):  # op between
        low, high = check.value
        return low <= value <= high
    limit = check.value
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[check.op]


def _measured(rows: list[Row], wanted: dict, metric: str) -> float | None:
    row = find(rows, wanted)
    return row.mean(metric) if row else None


def _show(check: Check, value: float) -> str:
    return f"{fmt(value, 2, pct=True)}%" if check.percent else fmt(value, 3)


def _points(check: Check, value: float) -> str:
    return fmt(value, 2, pct=True) if check.percent else fmt(value, 3)


def evaluate(rows: list[Row], checks: list[Check]) -> list[str]:
    """Markdown list lines; [] when none of the checks' rows was run."""
    out, ran = [], False
    for check in checks:
        value = _measured(rows, check.row, check.metric)
        ran = ran or value is not None
        verdict = "not run" if value is None else ("met" if holds(check, value) else "NOT met")
        out.append(f"- {check.text}: {verdict}" + ("" if value is None else f" ({_show(check, value)})"))
        other = _measured(rows, check.compare.row, check.metric) if check.compare else None
        if check.compare and value is not None and other is not None:
            out.append(
                f"  - {check.compare.text}: {_show(check, other)} "
                f"({_points(check, value - other)} {check.compare.difference})"
            )
    return out if ran else []
