"""Gather finished runs into the progression table: `python -m fwtk_lab.report DIR... [--out FILE.md]`.

A finished run is a directory holding `config.yaml` and `metrics.json` (any depth under each DIR).
Runs that differ only in their seed form one row: test accuracy mean and spread over seeds, the
budget (epochs, phrases, training images), wall time, train-split AIC beside the test NLL, and the
series' own figure (the experiment config's `series.figure`). Writes FILE.md and FILE.png (accuracy
against parameters per recipe; training-loss curves from the TensorBoard events when there are any).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from fwtk_lab.core.files import atomic_write_bytes, atomic_write_text

STEP_ORDER = ["1", "2", "3", "4", "5", "6a", "6b", "7"]
SERIES_RECIPE = {"logreg": "fixed16", "mlp": "fixed16", "size_features": "fixed16"}  # the rest used var_jitter


class ReportError(ValueError):
    """Nothing to report, or a run directory that cannot be read."""


@dataclass
class Run:
    path: Path
    cfg: dict
    metrics: dict

    @property
    def key(self) -> tuple:
        s = self.series
        return (s["step"], s["model"], s["recipe"], s["variant"], self.fonts, self.cfg["dataset"].get("max_phrases"))

    @property
    def fonts(self) -> str:
        return ",".join(map(str, self.cfg["dataset"].get("fonts") or []))

    @property
    def series(self) -> dict:
        """step, model, recipe, variant, figure: from the experiment's `series:` block, else from the config."""
        given = dict(self.cfg.get("series") or {})
        model = given.get("model") or str(self.cfg["model"]["_target_"]).split(".")[-2]
        faithful = self.cfg.get("loss", "ce") != "ce" or float(self.cfg["data"].get("pixel_scale", 255)) != 255
        return {
            "step": str(given.get("step", "?")),
            "model": model,
            "recipe": given.get("recipe") or self.cfg["dataset"]["name"],
            "series_recipe": given.get("series_recipe") or SERIES_RECIPE.get(model, "var_jitter"),
            "variant": given.get("variant") or ("faithful" if faithful else "corrected"),
            "figure": given.get("figure", ""),
        }


@dataclass
class Row:
    runs: list[Run] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        return [float(r.metrics[name]) for r in self.runs if r.metrics.get(name) is not None]

    def mean(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.fmean(v) if v else None

    def spread(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.stdev(v) if len(v) > 1 else None


def _metrics_files(root: Path) -> list[Path]:
    """metrics.json of the runs under root; a sweep directory lists its jobs' run directories in summary.json."""
    found = set(root.rglob("metrics.json"))
    summary = root / "summary.json"
    if summary.is_file():
        for job in json.loads(summary.read_text()).get("jobs", []):
            if (Path(job["dir"]) / "metrics.json").is_file():
                found.add(Path(job["dir"]) / "metrics.json")
    return list(found)


def find_runs(dirs: list[str]) -> list[Run]:
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
            runs.append(Run(metrics.parent, cfg, m))
    if not runs:
        raise ReportError(f"no finished runs (config.yaml + metrics.json) under {', '.join(dirs)}")
    return runs


def group(runs: list[Run]) -> list[Row]:
    """Runs that differ only in seed, in the series' order: step, the series' own recipe first, corrected first."""
    rows: dict[tuple, Row] = {}
    for run in runs:
        rows.setdefault(run.key, Row()).runs.append(run)

    def order(row: Row) -> tuple:
        s = row.runs[0].series
        step = STEP_ORDER.index(s["step"]) if s["step"] in STEP_ORDER else len(STEP_ORDER)
        return step, s["model"], s["recipe"] != s["series_recipe"], s["variant"] != "corrected", row.runs[0].fonts

    return sorted(rows.values(), key=order)


def _fmt(x: float | None, digits: int = 1, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.{digits}f}" if pct else f"{x:,.{digits}f}"


def table(rows: list[Row]) -> list[str]:
    head = (
        "| step | model | recipe | variant | fonts | params | epochs | phrases | train images | seeds | wall s "
        "| test acc % (mean ± sd) | train AIC | train NLL/img | test NLL/img | series' figure |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        r0 = row.runs[0]
        s = r0.series
        fonts = r0.cfg["dataset"].get("fonts") or []
        phrases = r0.cfg["dataset"].get("max_phrases") or "all"
        epochs = sorted({int(r.metrics.get("epochs", 0)) for r in row.runs})
        train_n = row.mean("train/n")
        nll_img = (row.mean("train/nll_sum") / train_n) if train_n else None
        wall = [float(r.metrics.get("fit_seconds", 0)) + float(r.metrics.get("test_seconds", 0)) for r in row.runs]
        acc, sd = row.mean("test/acc"), row.spread("test/acc")
        acc_text = _fmt(acc, 2, pct=True) + (f" ± {_fmt(sd, 2, pct=True)}" if sd is not None else "")
        lines.append(
            f"| {s['step']} | {s['model']} | {s['recipe']}{' (series)' if s['recipe'] == s['series_recipe'] else ''} "
            f"| {s['variant']} | {len(fonts)} | {int(r0.metrics['params']):,} | {'/'.join(map(str, epochs))} | {phrases} "
            f"| {_fmt(train_n, 0)} | {len(row.runs)} | {_fmt(statistics.fmean(wall), 0)} | {acc_text} "
            f"| {_fmt(row.mean('train/aic'), 0)} | {_fmt(nll_img, 3)} | {_fmt(row.mean('test/loss'), 3)} | {s['figure']} |"
        )
    return lines


def find(rows: list[Row], model: str, recipe: str, variant: str = "corrected") -> Row | None:
    for row in rows:
        s = row.runs[0].series
        if (s["model"], s["recipe"], s["variant"]) == (model, recipe, variant) and len(
            row.runs[0].cfg["dataset"].get("fonts") or []
        ) == 5:
            return row
    return None


def expectations(rows: list[Row]) -> list[str]:
    """The issue's expectations, each met / not met with the measured number (or absent)."""
    out = []

    def acc(model: str, recipe: str, variant: str = "corrected") -> float | None:
        row = find(rows, model, recipe, variant)
        return row.mean("test/acc") if row else None

    def line(text: str, value: float | None, ok: bool | None) -> None:
        verdict = "not run" if value is None else ("met" if ok else "NOT met")
        out.append(f"- {text}: {verdict}" + ("" if value is None else f" ({_fmt(value, 2, pct=True)}%)"))

    for model in ("size_features", "mlp"):
        fixed, var = acc(model, "fixed16"), acc(model, "var_jitter")
        line(
            f"size cue: {model} on fixed16 far above the 20% chance level (> 40%)",
            fixed,
            fixed is not None and fixed > 0.4,
        )
        if fixed is not None and var is not None:
            out.append(
                f"  - on var_jitter: {_fmt(var, 2, pct=True)}% ({_fmt(fixed - var, 2, pct=True)} points of the cue removed)"
            )
    for model, target in (("cnn", 0.98), ("cnn_rnn", 0.995), ("cnn_rnn_small", 0.99)):
        for variant, budget in (("corrected", "the series' budget"), ("trained", "trained to convergence")):
            a = acc(model, "var_jitter", variant)
            line(f"{model} on var_jitter >= {100 * target:g}%, {budget} ({variant})", a, a is not None and a >= target)
    a = acc("cnn_rnn", "var_jitter", "faithful")
    line("cnn_rnn faithful (the series' defects) near the series' ~60% (40-80%)", a, a is not None and 0.4 <= a <= 0.8)
    return out


def plot(rows: list[Row], path: Path) -> str:
    """accuracy vs parameters per recipe, and training-loss curves (TensorBoard); returns a note for the page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = learning_curves(rows)
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(13 if curves else 7, 5), squeeze=False)
    ax = axes[0][0]
    markers = {"var_jitter": "o", "fixed16": "s"}
    for recipe in sorted({r.runs[0].series["recipe"] for r in rows}):
        for variant in sorted({r.runs[0].series["variant"] for r in rows}, key=lambda v: (v != "corrected", v)):
            face = None if variant == "corrected" else "none"
            pts = [r for r in rows if r.runs[0].series["recipe"] == recipe and r.runs[0].series["variant"] == variant]
            if not pts:
                continue
            xs = [float(r.runs[0].metrics["params"]) for r in pts]
            ys = [100 * r.mean("test/acc") for r in pts]
            es = [100 * (r.spread("test/acc") or 0.0) for r in pts]
            h = ax.errorbar(
                xs, ys, yerr=es, fmt=markers.get(recipe, "^"), capsize=3, label=f"{recipe}, {variant}", mfc=face
            )
            for r, x, y in zip(pts, xs, ys):
                ax.annotate(
                    r.runs[0].series["model"],
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 3),
                    fontsize=7,
                    color=h[0].get_color(),
                )
    ax.axhline(
        100 / max(len(rows[0].runs[0].metrics.get("classes") or [5]), 1), color="grey", ls=":", lw=1, label="chance"
    )
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("test accuracy % (mean ± sd over seeds)")
    ax.set_title("accuracy against parameters")
    ax.legend(fontsize=8)
    note = "learning curves: none (no TensorBoard event files in these runs)"
    if curves:
        ax = axes[0][1]
        for label, (xs, ys) in curves.items():
            ax.plot(xs, smooth(ys), label=label, lw=1)
        ax.set_xlabel("training images seen")
        ax.set_ylabel(f"train loss (seed 0, smoothed {SMOOTHING:g} as TensorBoard)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("learning curves, series' recipe, corrected")
        ax.legend(fontsize=7)
        note = "learning curves: train/loss_step from each row's first run's TensorBoard events"
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return note


SMOOTHING = 0.9


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """TensorBoard's scalar smoothing: a debiased exponential moving average."""
    out, last = [], 0.0
    for i, v in enumerate(values, 1):
        last = weight * last + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


def learning_curves(rows: list[Row]) -> dict[str, tuple[list[float], list[float]]]:
    """{model: (images seen, train/loss_step)} for the corrected rows on the series' recipe; {} without events."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    out = {}
    for row in rows:
        s = row.runs[0].series
        if s["variant"] != "corrected" or s["recipe"] != s["series_recipe"]:
            continue
        run = min(row.runs, key=lambda r: int(r.cfg.get("seed", 0)))
        tb = run.path / "tb"
        if not tb.is_dir():
            continue
        acc = EventAccumulator(str(tb), size_guidance={"scalars": 0})
        acc.Reload()
        if "train/loss_step" not in acc.Tags().get("scalars", []):
            continue
        events = acc.Scalars("train/loss_step")
        batch = int(run.cfg["data"]["batch_size"])
        out[f"{s['step']} {s['model']}"] = ([e.step * batch for e in events], [e.value for e in events])
    return out


TITLE = "The series' progression, reproduced"


def report(dirs: list[str], out: Path, command: str | None = None, title: str = TITLE) -> Path:
    """Write `out` (markdown) and its PNG beside it; return the markdown path."""
    runs = find_runs(dirs)
    rows = group(runs)
    png = out.with_suffix(".png")
    note = plot(rows, png)
    checks = expectations(rows)
    if all(c.endswith(": not run") for c in checks):  # none of the progression's rows: no checklist
        checks = []
    lines = [
        f"# {title}",
        "",
        f"Generated by `python -m fwtk_lab.report {' '.join(dirs)}` from {len(runs)} finished runs in {len(rows)} rows."
        + (f" The runs: `{command}`." if command else ""),
        "",
        "Budget per row: `epochs` (trained), `phrases` (dataset.max_phrases, `all`: every phrase of the corpus; "
        "x fonts images, split by phrase 0.5/0.1/0.4 train/val/test), `train images` (the split the model was fitted to). `wall s`: fit + test "
        "seconds per run, mean over seeds. Test accuracy is on the test split, never seen by model selection; the "
        "spread is the sample standard deviation over seeds. `train AIC` = 2k + 2 x (NLL summed over the training "
        "split, with the tested weights): the series computed 2k - 2 x (mean log loss) on its held-out half, which "
        "has the wrong sign and a mean in place of a sum, so its numbers are not comparable. `corrected`: logits "
        "with softmax cross-entropy and pixels in [0, 1]; `faithful`: the series' sigmoid outputs under Keras 1 "
        "categorical cross-entropy, raw 0-255 pixels and Keras 1's LSTM (sigmoid activation, hard-sigmoid gates, "
        "one bias per gate); `raw_pixels`: the corrected cnn fed raw 0-255 pixels, as the series fed it; "
        "`trained`: corrected, at the series' model size, trained to convergence with our optimizer and budget "
        "(the experiment's config) instead of the series' optimizer and epochs. `(series)` marks the recipe the "
        "series used for the step.",
        "",
        *table(rows),
        "",
        *(["## Expectations (issue 7)", "", *checks, ""] if checks else []),
        f"![accuracy against parameters]({png.name})",
        "",
        f"Plot: {png.name}; {note}.",
        "",
    ]
    atomic_write_text(out, "\n".join(lines))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fwtk_lab.report", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run directories or multirun directories")
    parser.add_argument("--out", default="experiments/progression.md", help="markdown file (the PNG goes beside it)")
    parser.add_argument("--command", default=None, help="the command that made the runs, quoted in the page")
    parser.add_argument("--title", default=TITLE, help="the page's heading")
    args = parser.parse_args(argv)
    try:
        out = report(args.dirs, Path(args.out), args.command, args.title)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"written {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
