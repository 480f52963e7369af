"""The results store, experiments/bench_results.json: medians and ranges per section and key, with conditions."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from experiments.bench.lab import atomic_write_text
from experiments.bench.report import render

HERE = Path(__file__).resolve().parent.parent
RESULTS = HERE / "bench_results.json"
REPORT = HERE / "bench.md"


def spread(xs: list[float]) -> dict:
    """Median, min, max, count and all values of a list of measurements."""
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "all": xs}


def conditions(quick: bool) -> dict:
    """When and on what a measurement was made (stored beside it)."""
    load = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_1min": round(load[0], 2),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "quick": quick,
    }


def load(path: Path = RESULTS) -> dict:
    """The stored results ({} if none yet)."""
    return json.loads(path.read_text()) if path.exists() else {}


def write_report(results: dict, path: Path = REPORT) -> None:
    """Rewrite bench.md from the results."""
    atomic_write_text(path, render(results))


def save(section: str, key: str, value: dict, quick: bool) -> None:
    """Store one measurement and rewrite bench.md (quick runs only print); print it without the raw values."""
    results = load()
    results.setdefault(section, {})[key] = {**value, "conditions": conditions(quick)}
    if not quick:
        atomic_write_text(RESULTS, json.dumps(results, indent=1) + "\n")
        write_report(results)
    print(json.dumps({section: {key: {k: v for k, v in value.items() if k != "all"}}}, default=str)[:8000])
