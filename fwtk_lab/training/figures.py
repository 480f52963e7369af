"""Matplotlib figures of the series: sample sheet, confusion matrix, predictions grid, first-layer weights."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fwtk_lab.core.files import atomic_write_bytes  # noqa: E402


def sample_sheet(
    images: np.ndarray,
    labels: np.ndarray,
    phrase_ids: np.ndarray,
    classes: list[str],
    phrase: int | None = None,
    phrases: list[str] | None = None,
) -> Figure:
    """One phrase drawn in every font, like the series' first figure."""
    phrase = int(phrase_ids[0]) if phrase is None else phrase
    rows = np.flatnonzero(np.asarray(phrase_ids) == phrase)
    fig, axes = plt.subplots(len(rows), 1, figsize=(6, 0.9 * len(rows) + 0.4), squeeze=False)
    for ax, r in zip(axes[:, 0], rows):
        ax.imshow(images[r], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(classes[int(labels[r])], fontsize=8, loc="left")
        ax.axis("off")
    text = phrases[phrase] if phrases and phrase < len(phrases) else f"phrase {phrase}"
    fig.suptitle(repr(text), fontsize=9)
    fig.tight_layout()
    return fig


def confusion(matrix: np.ndarray, classes: list[str]) -> Figure:
    """Rows: true font; columns: predicted; cells: row-normalised share with the count."""
    m = np.asarray(matrix, dtype=np.float64)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.0 * n + 2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{share[i, j]:.2f}\n{int(m[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def predictions(images: np.ndarray, true: np.ndarray, pred: np.ndarray, classes: list[str], cols: int = 4) -> Figure:
    """A grid of images titled 'true -> predicted' (red when wrong)."""
    n = len(images)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 0.9 * rows + 0.3), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(
                np.squeeze(images[k]),
                cmap="gray",
                vmin=0,
                vmax=1 if images.dtype != np.uint8 else 255,
                interpolation="nearest",
            )
            ok = int(true[k]) == int(pred[k])
            ax.set_title(
                f"{classes[int(true[k])]} -> {classes[int(pred[k])]}", fontsize=7, color="black" if ok else "red"
            )
    fig.tight_layout()
    return fig


def weights(w: np.ndarray, title: str, max_panels: int = 64) -> Figure:
    """Each (h, w) slice of the first layer drawn as an image (the series drew filters this way)."""
    w = np.asarray(w)[:max_panels]
    n = len(w)
    cols = min(n, 8)
    rows = -(-n // cols)
    aspect = w.shape[2] / w.shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2 * max(aspect, 0.5), rows * 1.2 + 0.4), squeeze=False)
    lim = float(np.abs(w).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(w[k], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
