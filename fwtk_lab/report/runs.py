"""Read finished runs: every directory with config.yaml and metrics.json, or the jobs of a sweep's summary.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from fwtk_lab.core.errors import UserError


class ReportError(UserError, ValueError):
    """Nothing to report, or a run directory or spec file that cannot be read."""


@dataclass
class Run:
    path: Path
    cfg: dict
    metrics: dict
    labels: dict

    @property
    def key(self) -> tuple:
        """What a row shares: every label but the figure, the fonts and the phrases (runs differing in seed only)."""
        s = self.labels
        return (s["step"], s["model"], s["recipe"], s["variant"], self.fonts, self.cfg["dataset"].get("max_phrases"))

    @property
    def fonts(self) -> str:
        return ",".join(map(str, self.cfg["dataset"].get("fonts") or []))


def labels(cfg: dict, series_recipes: Mapping[str, str] | None = None) -> dict:
    """step, model, recipe, series_recipe, variant, figure: from the config's `series:` block, else from the config.

    A run without `series.series_recipe` takes `series_recipes[model]`, else `series_recipes["*"]`, else None.
    """
    given = dict(cfg.get("series") or {})
    model = given.get("model") or str(cfg["model"]["_target_"]).split(".")[-2]
    faithful = cfg.get("loss", "ce") != "ce" or float(cfg["data"].get("pixel_scale", 255)) != 255
    fallback = series_recipes or {}
    return {
        "step": str(given.get("step", "?")),
        "model": model,
        "recipe": given.get("recipe") or cfg["dataset"]["name"],
        "series_recipe": given.get("series_recipe") or fallback.get(model, fallback.get("*")),
        "variant": given.get("variant") or ("faithful" if faithful else "corrected"),
        "figure": given.get("figure", ""),
    }


def _metrics_files(root: Path) -> list[Path]:
    """metrics.json of the runs under root; a sweep directory lists its jobs' run directories in summary.json."""
    found = set(root.rglob("metrics.json"))
    summary = root / "summary.json"
    if summary.is_file():
        for job in json.loads(summary.read_text()).get("jobs", []):
            if (Path(job["dir"]) / "metrics.json").is_file():
                found.add(Path(job["dir"]) / "metrics.json")
    return list(found)


def find_runs(dirs: list[str], series_recipes: Mapping[str, str] | None = None) -> list[Run]:
    """Every directory under `dirs` with both config.yaml and metrics.json (a sweep dir: the jobs of its summary.json)."""
    runs = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise ReportError(f"{d!r} is not a directory; give run directories or a multirun directory")
        for metrics in sorted(_metrics_files(root)):
            config = metrics.parent / "config.yaml"
            if not config.is_file():
                continue
            try:
                m = json.loads(metrics.read_text())
                cfg = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
            except (ValueError, OSError) as e:
                raise ReportError(f"{metrics.parent}: unreadable config.yaml or metrics.json ({e})") from None
            runs.append(Run(metrics.parent, cfg, m, labels(cfg, series_recipes)))
    if not runs:
        raise ReportError(f"no finished runs (config.yaml + metrics.json) under {', '.join(dirs)}")
    return runs
