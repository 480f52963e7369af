"""Font probabilities for real images of one line of text.

    python -m fwtk_lab.predict ckpt_path=<run dir>/checkpoints/last.ckpt image=line.png [image=b.jpg ...]
    python -m fwtk_lab.predict ckpt_path=... image=[a.png,b.png] format=json     # or --json

Each image (any size, any colours, any format Pillow reads) is brought to the geometry of the model's
training images (fwtk_lab/data/lineprep.py: polarity, contrast, scale from the line's own baseline and
ascenders), read in windows of the trained width whose evidence is combined, at the temperature fitted on
the validation split; `unknown` when the confidence is below the threshold `fwtk_lab.calibrate` chose on
held-out fonts. Prints a ranked table per image, or one JSON object with `format=json`. Writes no files.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Sequence

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.core import threads
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.data.classes import OTHER
from fwtk_lab.data.lineprep import ACCEPTED, ImageError, parse_invert, read_image
from fwtk_lab.inference.classify import classify, geometry_of, load_model

FORMATS = ("table", "json")


def describe(model) -> str:
    target = str(model.cfg.model.get("_target_", "?")).rsplit(".", 1)[-1]
    g = geometry_of(model)
    threshold = model.unknown_threshold
    unknown = "no unknown threshold" if threshold is None else f"unknown below {threshold:.3f}"
    fonts = [c for c in model.classes if c != OTHER]
    other = " + other" if len(fonts) < len(model.classes) else ""
    return (
        f"{target}, {len(fonts)} fonts{other}, windows {g.height}x{g.width} px, "
        f"temperature {model.temperature:.3f}, {unknown}"
    )


# ---------------------------------------------------------------------------------------------- run


def image_paths(value: Any) -> list[str]:
    """`image=a.png` or `image=[a.png, b.png]` -> list of paths."""
    if isinstance(value, (ListConfig, list, tuple)):
        items = list(value)
        if not items:
            raise ValueError(f"image=[] names no file; give image=FILE or image=[FILE,...] ({ACCEPTED})")
        bad = [v for v in items if isinstance(v, (ListConfig, DictConfig, list, dict))]
        if bad:
            raise ValueError(
                f"image={OmegaConf.to_container(value) if isinstance(value, ListConfig) else value!r}: "
                f"give a path or a flat list of paths"
            )
        return [str(v) for v in items]
    if isinstance(value, DictConfig):
        raise ValueError("image must be a path or a list of paths, not a mapping")
    return [str(value)]


def check_options(cfg: DictConfig) -> tuple[str, int | None, bool | str]:
    for key in ("ckpt_path", "image"):
        if OmegaConf.is_missing(cfg, key):
            raise ValueError(
                f"{key} is required: python -m fwtk_lab.predict ckpt_path=<run dir>/checkpoints/last.ckpt image=<file>"
            )
    fmt = str(cfg.get("format", "table")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"format={cfg.format!r}; accepted: {', '.join(FORMATS)}")
    top_k = cfg.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k={top_k!r} must be a whole number >= 1, or null for every class")
    return fmt, top_k, parse_invert(cfg.get("invert", "auto"))


def predict(ckpt_path: str, images: Sequence[str], invert: bool | str = "auto", top_k: int | None = None) -> dict:
    """{"checkpoint", "model", "classes", "predictions": [{"image", "probabilities" (ranked), "top",
    "confidence", "unknown", "windows"}]}; every image is read before the model is loaded, so a bad path fails fast."""
    pictures = [(path, read_image(path)) for path in images]
    model = load_model(ckpt_path)
    geometry = geometry_of(model)
    predictions = []
    for path, img in pictures:
        try:
            pred = classify(model, img, invert, geometry)
        except ImageError as e:
            raise ValueError(f"image {path!r}: {e}") from None
        ranked = sorted(zip(model.classes, pred.probabilities.tolist()), key=lambda kv: -kv[1])
        if top_k is not None:
            ranked = ranked[:top_k]
        predictions.append(
            {
                "image": path,
                "probabilities": {name: float(p) for name, p in ranked},
                "top": "unknown" if pred.unknown else model.classes[pred.top],
                "confidence": pred.confidence,
                "unknown": pred.unknown,
                "windows": pred.windows,
            }
        )
    return {
        "checkpoint": str(ckpt_path),
        "model": describe(model),
        "classes": list(model.classes),
        "temperature": float(model.temperature),
        "unknown_threshold": model.unknown_threshold,
        "predictions": predictions,
    }


def format_table(result: dict) -> str:
    """Plain aligned text (nothing wraps or truncates in pipes): per image, rank, font, probability."""
    lines = [f"checkpoint {result['checkpoint']} ({result['model']})"]
    for pred in result["predictions"]:
        verdict = "unknown font" if pred["unknown"] else pred["top"]
        lines += [
            "",
            f"{pred['image']}  ->  {verdict}  ({pred['windows']} windows, confidence {pred['confidence']:.3f})",
        ]
        names = list(pred["probabilities"])
        name_w = max([len("font"), *map(len, names)])
        lines.append(f"  {'rank':>4}  {'font':<{name_w}}  {'probability':>11}")
        for rank, (name, p) in enumerate(pred["probabilities"].items(), 1):
            lines.append(f"  {rank:>4}  {name:<{name_w}}  {p:>11.4f}")
    return "\n".join(lines)


def run(cfg: DictConfig) -> dict:
    fmt, top_k, invert = check_options(cfg)
    threads.configure(cfg.get("threads"))
    result = predict(str(cfg.ckpt_path), image_paths(cfg.image), invert=invert, top_k=top_k)
    if fmt == "json":
        print(json.dumps(result, indent=2), flush=True)
    else:
        print(format_table(result), flush=True)
    return result


# ---------------------------------------------------------------------------------------------- CLI


def _quote(s: str) -> str:
    """A Hydra override string literal for s (backslashes before a quote or at the end are doubled)."""
    s = re.sub(r"\\+(?='|$)", lambda m: m.group(0) * 2, s)
    return "'" + s.replace("'", "\\'") + "'"


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """`--json` -> `format=json`; repeated `image=` arguments -> one `image=[...]` list (Hydra alone keeps
    only the last one). Anything it cannot parse is left for Hydra to report."""
    args = ["format=json" if a == "--json" else a for a in argv]
    at = [i for i, a in enumerate(args) if a.startswith("image=")]
    if len(at) < 2:
        return args
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    paths: list[str] = []
    try:
        for i in at:
            value = parser.parse_overrides([args[i]])[0].value()
            if isinstance(value, (list, tuple)):
                paths += [str(v) for v in value]
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                paths.append(str(value))
            else:
                return args
    except Exception:
        return args
    merged = "image=[" + ",".join(_quote(p) for p in paths) + "]"
    return [merged if i == at[0] else a for i, a in enumerate(args) if i not in at[1:]]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="predict")
@friendly_errors
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    sys.argv[:] = normalize_argv(sys.argv)
    launch(main, "predict", job=friendly_errors(run))  # Hydra only for what flat_config leaves it (--help, -m, +key)
