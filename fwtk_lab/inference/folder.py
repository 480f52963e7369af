"""A checkpoint on a folder of images it did not draw: labels from `manifest.csv` (columns `file` and
`font`, any others become breakdowns) or from sub-folder names (DIR/<font>/*.png).

Labels that are a model class (compared loosely: 'DejaVu Sans' == 'DejaVuSans') count for accuracy,
the confusion matrix and the calibration error; the others are unseen fonts, which should be `unknown`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from fwtk_lab.core.files import atomic_write_bytes
from fwtk_lab.data.classes import OTHER
from fwtk_lab.data.lineprep import ImageError, read_image
from fwtk_lab.inference.classify import classify, geometry_of, label_key
from fwtk_lab.training.calibration import BINS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_GROUP_VALUES = 12  # manifest columns with at most this many values get an accuracy breakdown
# a record's own keys; the manifest's other columns (but free text) become breakdowns and CSV columns
RECORD_KEYS = {"file", "font", "label", "top", "predicted", "confidence", "unknown", "windows", "probabilities", "text"}


@dataclass
class Item:
    path: Path
    label: str
    extra: dict = field(default_factory=dict)


def read_folder(root: str | Path) -> list[Item]:
    """The labelled images of a folder; a clear error when there are none or the manifest is unusable."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"images={str(root)!r} is not a folder; give a folder with manifest.csv or <font>/ sub-folders"
        )
    manifest = root / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"file", "font"} <= set(rows[0]):
            raise ValueError(f"{manifest} needs a header with the columns file and font (and at least one row)")
        return [
            Item(root / r["file"], r["font"], {k: v for k, v in r.items() if k not in ("file", "font")}) for r in rows
        ]
    items = [
        Item(p, sub.name)
        for sub in sorted(d for d in root.iterdir() if d.is_dir())
        for p in sorted(sub.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise ValueError(f"images={str(root)!r} holds no manifest.csv and no <font>/ sub-folders with images")
    return items


def run(model, items: list[Item], invert: str = "auto") -> list[dict]:
    """One record per image: label, known, predicted (or 'unknown'), top class, confidence, probabilities."""
    geometry = geometry_of(model)
    keys = {label_key(c): i for i, c in enumerate(model.classes) if c != OTHER}  # `other` is no label
    records = []
    for item in items:
        try:
            pred = classify(model, read_image(item.path), invert, geometry)
        except ImageError as e:
            raise ValueError(f"image {str(item.path)!r}: {e}") from None
        top = int(pred.probabilities.argmax())  # `other` included: a known font called `other` is an error
        records.append(
            {
                "file": str(item.path),
                "font": item.label,
                "label": keys.get(label_key(item.label), -1),
                "top": top,
                "predicted": "unknown" if pred.unknown else model.classes[pred.top],
                "confidence": pred.confidence,
                "unknown": pred.unknown,
                "windows": pred.windows,
                "probabilities": pred.probabilities.tolist(),
                **item.extra,
            }
        )
    return records


def calibration_error(records: list[dict]) -> float:
    known = [r for r in records if r["label"] >= 0]
    if not known:
        return float("nan")
    p = torch.tensor([r["probabilities"] for r in known], dtype=torch.float32)
    y = torch.tensor([r["label"] for r in known])
    return float(multiclass_calibration_error(p, y, num_classes=p.shape[1], n_bins=BINS, norm="l1"))


def summary(records: list[dict], classes: list[str]) -> dict:
    """Accuracy (top class, and counting `unknown` as wrong), flag rates, ECE, confusion, breakdowns."""
    known = [r for r in records if r["label"] >= 0]
    unseen = [r for r in records if r["label"] < 0]
    n = len(classes)
    confusion = np.zeros((n, n), dtype=int)
    for r in known:
        confusion[r["label"], r["top"]] += 1

    def rate(rows: list[dict], test) -> float | None:
        return None if not rows else float(np.mean([bool(test(r)) for r in rows]))

    out = {
        "images": len(records),
        "known_images": len(known),
        "unseen_images": len(unseen),
        "accuracy": rate(known, lambda r: r["top"] == r["label"]),
        "accuracy_answered": rate(known, lambda r: not r["unknown"] and r["top"] == r["label"]),
        "known_flagged_unknown": rate(known, lambda r: r["unknown"]),
        "unseen_flagged_unknown": rate(unseen, lambda r: r["unknown"]),
        "ece": calibration_error(records),
        "classes": classes,
        "confusion_matrix": confusion.tolist(),
        "by": {},
    }
    columns = [k for k in (records[0] if records else {}) if k not in RECORD_KEYS]
    for col in ["font", *columns]:
        values = sorted({str(r.get(col, "")) for r in records})
        if len(values) > MAX_GROUP_VALUES and col != "font":
            continue
        out["by"][col] = {
            v: {
                "images": len(rows := [r for r in records if str(r.get(col, "")) == v]),
                "accuracy": rate([r for r in rows if r["label"] >= 0], lambda r: r["top"] == r["label"]),
                "flagged_unknown": rate(rows, lambda r: r["unknown"]),
            }
            for v in values
        }
    return out


def reliability(records: list[dict]):
    """A reliability diagram (accuracy against confidence, BINS bins) of the known-font images."""
    from matplotlib.figure import Figure

    known = [r for r in records if r["label"] >= 0]
    conf = np.array([r["confidence"] for r in known])
    right = np.array([r["top"] == r["label"] for r in known], dtype=float)
    edges = np.linspace(0, 1, BINS + 1)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ax.bar((lo + hi) / 2, right[inside].mean(), width=hi - lo, alpha=0.7, color="tab:blue", edgecolor="black")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"calibration, {len(known)} known-font images, ECE {calibration_error(records):.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    return fig


def write_predictions(records: list[dict], classes: list[str], path: Path) -> None:
    """predictions.csv: one row per image, probabilities per class last."""
    fixed = ["file", "font", "predicted", "confidence", "unknown", "windows"]
    extra = [k for k in (records[0] if records else {}) if k not in RECORD_KEYS]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*fixed, *extra, *(f"p_{c}" for c in classes)])
    for r in records:
        w.writerow([r[k] for k in fixed] + [r.get(k, "") for k in extra] + [f"{p:.6f}" for p in r["probabilities"]])
    atomic_write_bytes(path, buf.getvalue().encode())
