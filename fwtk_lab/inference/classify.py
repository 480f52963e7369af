"""A trained model on real images: the geometry of its recipe, windows over the line, the temperature
fitted on its validation split, and `unknown` below the confidence threshold chosen on held-out fonts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fwtk_lab.data import lineprep
from fwtk_lab.data.classes import OTHER
from fwtk_lab.data.lineprep import Geometry
from fwtk_lab.inference.model import Classifier, from_checkpoint
from fwtk_lab.runs.checkpoint_file import CheckpointError
from fwtk_lab.runs.checkpoint_file import load as load_checkpoint
from fwtk_lab.training.losses import probabilities

# Phrases whose geometry stands for a series recipe's (its size rule grows the font per phrase).
REFERENCE = ("Thy bold fathers lived happily", "and kept the night", "Which of you hath quick wit")
DEFAULT_FONTS = ["DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "STIXGeneral", "cmr10"]


def load_model(path: str | Path) -> Classifier:
    """The model of a checkpoint (slicer and encoder, without Lightning), on the CPU in eval mode; one
    CheckpointError for a bad file."""
    ckpt = load_checkpoint(path)  # missing, truncated or foreign file: one clear message
    try:
        return from_checkpoint(ckpt)
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise CheckpointError(f"checkpoint {str(path)!r} does not rebuild a FontClassifier ({reason})") from None


def geometry_of(model) -> Geometry:
    """Where the text lies in the model's training images: the lines recipe says so; for the series'
    recipes it is measured on reference phrases drawn by the recipe (median over its fonts)."""
    h, w = (int(v) for v in model.hparams.image_shape)
    ds = model.cfg.dataset
    if ds.get("lines") is not None:
        return Geometry(height=h, width=w, baseline=float(ds.lines.baseline), ascender=float(ds.lines.ascender))
    fields = ("width", "height", "font_size", "fit_height", "max_font_size", "align", "size_rule")
    recipe = {k: ds[k] for k in fields if k in ds}  # None kept: fit_height=None means "keep font_size"
    fonts = list(ds.get("fonts") or []) if ds.get("source", "render") == "render" else DEFAULT_FONTS
    return measured_geometry(json.dumps(recipe, sort_keys=True), tuple(fonts or DEFAULT_FONTS), h, w)


@lru_cache(maxsize=16)
def measured_geometry(recipe_json: str, fonts: tuple[str, ...], height: int, width: int) -> Geometry:
    from fwtk_lab.data.fonts import FontError, resolve_paths
    from fwtk_lab.data.render import Recipe, Renderer

    recipe = Recipe(**json.loads(recipe_json))
    wide = replace(recipe, width=1024, jitter=(0, 0))  # the whole phrase, unshifted
    try:
        paths = resolve_paths(list(fonts))
    except FontError:  # the training fonts are not on this machine: the embedded five stand in
        paths = resolve_paths(DEFAULT_FONTS)
    baselines, ascenders = [], []
    for path in paths:
        render = Renderer(path, wide)
        for phrase in REFERENCE:
            m = lineprep.line_metrics(render(phrase).astype(np.float64) / 255)
            baselines.append(m.baseline)
            ascenders.append(m.ascender)
    return Geometry(
        height=height, width=width, baseline=float(np.median(baselines)), ascender=float(np.median(ascenders))
    )


@dataclass
class Prediction:
    probabilities: np.ndarray  # (classes,), the windows' evidence combined, at the fitted temperature
    windows: int  # windows of the line the model read
    top: int  # the most probable font class (never `other`)
    confidence: float  # its probability
    unknown: bool  # `other` is the most probable class, or the confidence is below the unknown threshold


@torch.inference_mode()
def window_log_probs(model, windows: np.ndarray) -> torch.Tensor:
    """(N, classes) log-probabilities of prepared windows (N, H, W) in [0, 1], at the model's temperature."""
    scale = 255.0 / float(model.cfg.data.get("pixel_scale", 255.0))  # the pixel range the model trained on
    x = torch.from_numpy(windows)[:, None].to(model.device) * scale
    logits = model(x).double() / float(getattr(model, "temperature", 1.0))
    return probabilities(model.cfg.get("loss", "ce"), logits).clamp_min(1e-12).log()


def combine(log_probs: torch.Tensor) -> np.ndarray:
    """The windows' evidence as one distribution: the normalised geometric mean of their probabilities
    (as confident as one window when they agree, less when they disagree)."""
    return torch.softmax(log_probs.mean(dim=0), dim=-1).cpu().numpy()


def classify(
    model, img: Image.Image | np.ndarray, invert: bool | str = "auto", geometry: Geometry | None = None
) -> Prediction:
    """One image of one line of text -> Prediction; lineprep.ImageError when it holds no ink."""
    windows = lineprep.line_windows(img, geometry or geometry_of(model), invert)
    p = combine(window_log_probs(model, windows))
    return judge(p, list(model.classes), getattr(model, "unknown_threshold", None), len(windows))


def judge(p: np.ndarray, classes: list[str], threshold: float | None, windows: int = 1) -> Prediction:
    """The answer for class probabilities p: the most probable font, and whether it is `unknown`."""
    fonts = np.array([c != OTHER for c in classes])
    top = int(np.where(fonts, p, -1.0).argmax())
    confidence = float(p[top])
    unknown = bool(int(p.argmax()) != top or (threshold is not None and confidence < threshold))
    return Prediction(p, windows, top, confidence, unknown)


def label_key(name: str) -> str:
    """Font names compared loosely: 'DejaVu Sans', 'DejaVuSans' and 'dejavu-sans' are the same label."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())
