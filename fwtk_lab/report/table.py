"""Rows of runs that differ only in seed, and the markdown table: means ± sd over seeds, budget, AIC, NLL."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fwtk_lab.report.runs import Run


@dataclass
class Row:
    runs: list[Run] = field(default_factory=list)

    @property
    def labels(self) -> dict:
        """The first run's labels and `fonts`, the number of fonts: what an expectation's `row:` matches."""
        r0 = self.runs[0]
        return {**r0.labels, "fonts": len(r0.cfg["dataset"].get("fonts") or [])}

    def values(self, name: str) -> list[float]:
        return [float(r.metrics[name]) for r in self.runs if r.metrics.get(name) is not None]

    def mean(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.fmean(v) if v else None

    def spread(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.stdev(v) if len(v) > 1 else None


def rank(value: str, listed: Sequence[str]) -> int:
    """Position of `value` in `listed`; anything not listed after them, all alike."""
    return list(listed).index(value) if value in listed else len(listed)


def group(runs: list[Run], order: Mapping[str, Sequence[str]] | None = None) -> list[Row]:
    """Rows in order: step (as `order["step"]` lists), model, own series_recipe first, variant (`order["variant"]`), fonts."""
    order = order or {}
    rows: dict[tuple, Row] = {}
    for run in runs:
        rows.setdefault(run.key, Row()).runs.append(run)

    def key(row: Row) -> tuple:
        s = row.runs[0].labels
        return (
            rank(s["step"], order.get("step", [])),
            s["model"],
            s["recipe"] != s["series_recipe"],
            rank(s["variant"], order.get("variant", [])),
            row.runs[0].fonts,
        )

    return sorted(rows.values(), key=key)


def find(rows: list[Row], wanted: Mapping[str, object]) -> Row | None:
    """The first row whose labels equal every value of `wanted` (compared as text)."""
    for row in rows:
        have = row.labels
        if all(str(have.get(k)) == str(v) for k, v in wanted.items()):
            return row
    return None


def fmt(x: float | None, digits: int = 1, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.{digits}f}" if pct else f"{x:,.{digits}f}"


def table(rows: list[Row]) -> list[str]:
    """The markdown table, one line per row."""
    head = (
        "| step | model | recipe | variant | fonts | params | epochs | phrases | train images | seeds | wall s "
        "| test acc % (mean ± sd) | train AIC | train NLL/img | test NLL/img | series' figure |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        r0 = row.runs[0]
        s = r0.labels
        fonts = r0.cfg["dataset"].get("fonts") or []
        phrases = r0.cfg["dataset"].get("max_phrases") or "all"
        epochs = sorted({int(r.metrics.get("epochs", 0)) for r in row.runs})
        train_n = row.mean("train/n")
        nll_img = (row.mean("train/nll_sum") / train_n) if train_n else None
        wall = [float(r.metrics.get("fit_seconds", 0)) + float(r.metrics.get("test_seconds", 0)) for r in row.runs]
        acc, sd = row.mean("test/acc"), row.spread("test/acc")
        acc_text = fmt(acc, 2, pct=True) + (f" ± {fmt(sd, 2, pct=True)}" if sd is not None else "")
        lines.append(
            f"| {s['step']} | {s['model']} | {s['recipe']}{' (series)' if s['recipe'] == s['series_recipe'] else ''} "
            f"| {s['variant']} | {len(fonts)} | {int(r0.metrics['params']):,} | {'/'.join(map(str, epochs))} | {phrases} "
            f"| {fmt(train_n, 0)} | {len(row.runs)} | {fmt(statistics.fmean(wall), 0)} | {acc_text} "
            f"| {fmt(row.mean('train/aic'), 0)} | {fmt(nll_img, 3)} | {fmt(row.mean('test/loss'), 3)} | {s['figure']} |"
        )
    return lines
