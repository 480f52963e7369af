"""The page's PNG: accuracy against parameters per recipe, and training-loss curves from TensorBoard events."""

from __future__ import annotations

import io
from pathlib import Path

from fwtk_lab.core.files import atomic_write_bytes
from fwtk_lab.report.table import Row

SMOOTHING = 0.9


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """TensorBoard's scalar smoothing: a debiased exponential moving average."""
    out, last = [], 0.0
    for i, v in enumerate(values, 1):
        last = weight * last + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


def _first(variant: str, baseline: str | None) -> bool:
    """Whether `variant` is drawn filled and gets learning curves: the baseline, or any when there is none."""
    return baseline is None or variant == baseline


def learning_curves(rows: list[Row], baseline: str | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """{step model: (images seen, train/loss_step)} for the baseline rows on their series_recipe; {} without events."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    out = {}
    for row in rows:
        s = row.runs[0].labels
        if not _first(s["variant"], baseline) or s["recipe"] != (s["series_recipe"] or s["recipe"]):
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


def _accuracy(ax, rows: list[Row], baseline: str | None) -> None:
    """Test accuracy (mean ± sd over seeds) against parameters, one series per recipe and variant."""
    markers = {"var_jitter": "o", "fixed16": "s"}
    for recipe in sorted({r.runs[0].labels["recipe"] for r in rows}):
        variants = {r.runs[0].labels["variant"] for r in rows}
        for variant in sorted(variants, key=lambda v: (v != baseline, v)):
            face = None if _first(variant, baseline) else "none"
            pts = [r for r in rows if r.runs[0].labels["recipe"] == recipe and r.runs[0].labels["variant"] == variant]
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
                    r.runs[0].labels["model"],
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


def plot(rows: list[Row], path: Path, baseline: str | None = None, curves_title: str = "learning curves") -> str:
    """Write the PNG at `path`; return a note for the page on where its learning curves came from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = learning_curves(rows, baseline)
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(13 if curves else 7, 5), squeeze=False)
    _accuracy(axes[0][0], rows, baseline)
    note = "learning curves: none (no TensorBoard event files in these runs)"
    if curves:
        ax = axes[0][1]
        for label, (xs, ys) in curves.items():
            ax.plot(xs, smooth(ys), label=label, lw=1)
        ax.set_xlabel("training images seen")
        ax.set_ylabel(f"train loss (seed 0, smoothed {SMOOTHING:g} as TensorBoard)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(curves_title)
        ax.legend(fontsize=7)
        note = "learning curves: train/loss_step from each row's first run's TensorBoard events"
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return note
