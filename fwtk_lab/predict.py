"""Font probabilities for real images of one line of text.

    python -m fwtk_lab.predict ckpt_path=<run dir>/checkpoints/last.ckpt image=line.png [image=b.jpg ...]
    python -m fwtk_lab.predict ckpt_path=... image=[a.png,b.png] format=json     # or --json

Each image (any size, any colours, any format Pillow reads) is made greyscale, inverted when the ink is
dark on a light background, contrast-stretched, cropped to the ink, scaled to the model's height and
then padded or cut to the width the model needs (see `prepare_image`). Prints a ranked table per image,
or one JSON object with `format=json`. Writes no files.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from PIL import Image, ImageOps, UnidentifiedImageError

from fwtk_lab.core import threads
from fwtk_lab.training.checkpoint_io import CheckpointError, load as load_checkpoint
from fwtk_lab.core.cli import friendly_errors
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.training.losses import probabilities as class_probabilities
from fwtk_lab.core.launch import launch

ACCEPTED = "an image file Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...)"
INK_THRESHOLD = 0.25  # after inversion and contrast stretch: pixels above this are ink (crop box)
MIN_CONTRAST = 0.05  # ink this close to the background level is no ink at all
FORMATS = ("table", "json")


class ImageError(ValueError):
    """An image that cannot be turned into model input (blank, no contrast), said without its path."""


# ---------------------------------------------------------------------------------------------- images


def read_image(path: str | Path) -> Image.Image:
    """The image at path, decoded (first frame, EXIF orientation applied); a clear error naming the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"image {str(p)!r} does not exist; give {ACCEPTED}")
    if not p.is_file():
        raise ValueError(f"image {str(p)!r} is not a file; give {ACCEPTED}")
    try:
        with Image.open(p) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        raise ValueError(f"image {str(p)!r} is not an image file; give {ACCEPTED}") from None
    except Exception as e:  # truncated/damaged files, decompression bombs, permissions: Pillow raises many types
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise ValueError(f"image {str(p)!r} cannot be read ({reason}); give {ACCEPTED}") from None


def to_grey(img: Image.Image) -> np.ndarray:
    """(h, w) float64 luminance in [0, 1]. Transparent pixels take the background colour the ink is not."""
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):  # 16/32-bit greyscale
        a = np.asarray(img, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        scale = 1.0 if img.mode == "F" and hi <= 1.0 else (255.0 if hi <= 255 else 65535.0)
        return np.clip(a / scale, 0.0, 1.0)
    if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255
        lum = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64) / 255
        opaque = alpha > 0.5
        dark_ink = not opaque.any() or float(lum[opaque].mean()) < 0.5
        return lum * alpha + (1.0 if dark_ink else 0.0) * (1 - alpha)
    try:
        grey = img.convert("L")
    except (ValueError, OSError):  # modes without a direct conversion (e.g. HSV, LAB)
        grey = img.convert("RGB").convert("L")
    return np.asarray(grey, dtype=np.float64) / 255


def border_level(x: np.ndarray) -> float:
    """The background level: median of the outermost pixels (of every pixel for images under 3 px)."""
    if min(x.shape) < 3:
        return float(np.median(x))
    ring = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    return float(np.median(ring))


def needs_inversion(x: np.ndarray) -> bool:
    """Whether the ink is darker than the background: the darkest pixel lies farther below the border's
    level than the lightest lies above it (dark text on a light background, in any colours)."""
    bg = border_level(x)
    return bg - float(x.min()) > float(x.max()) - bg


def parse_invert(invert: Any) -> bool | str:
    """auto | true | false (bools or strings) -> "auto", True or False."""
    if isinstance(invert, bool):
        return invert
    s = str(invert).strip().lower()
    if s in ("auto", "true", "false"):
        return {"true": True, "false": False}.get(s, "auto")
    raise ValueError(f"invert={invert!r}; accepted: auto, true, false")


def fitted_width(scaled: int, block: int, stride: int) -> int:
    """The smallest width >= scaled (and >= one block) that the blocks tile exactly."""
    if scaled <= block:
        return block
    return block + math.ceil((scaled - block) / stride) * stride


def prepare_image(
    img: Image.Image,
    height: int,
    width: int | None = None,
    block: int | None = None,
    invert: bool | str = "auto",
    *,
    stride: int | None = None,
) -> torch.Tensor:
    """One line of text -> model input (1, 1, height, W), float32 in [0, 1], white ink on black.

    1. greyscale (alpha composited onto the side the ink is not);
    2. inverted when `invert` is true, or when "auto" finds the ink darker than the background;
    3. contrast-stretched: the border's median level -> 0, the brightest pixel -> 1;
    4. cropped to the box of the ink (pixels above INK_THRESHOLD); no ink is an ImageError;
    5. scaled to `height` keeping the aspect ratio (>= 1 px wide);
    6. width: flat models (`width`): padded with black, centred, or cut to the centre, to exactly `width`;
       block models (`block` = block width, `stride` default the block width): padded with black on the
       right to the next width the blocks tile (>= one block); neither: the scaled width.
    """
    if height < 1:
        raise ValueError(f"height={height} must be >= 1")
    if width is not None and block is not None:
        raise ValueError("give width (flat models) or block (block models), not both")
    if width is not None and width < 1:
        raise ValueError(f"width={width} must be >= 1")
    if block is not None:
        stride = block if stride is None else stride
        if block < 1 or stride < 1:
            raise ValueError(f"block={block}, stride={stride} must be >= 1")
    mode = parse_invert(invert)

    x = to_grey(img)
    if x.size == 0:
        raise ImageError("the image is empty (0 pixels)")
    inverted = needs_inversion(x) if mode == "auto" else mode
    if inverted:
        x = 1.0 - x
    bg, ink = border_level(x), float(x.max())
    if ink - bg < MIN_CONTRAST:
        hint = "" if mode == "auto" else f" with invert={str(mode).lower()} (try invert=auto)"
        raise ImageError(
            f"no ink found{hint}: the image is blank or has no contrast (background {bg:.2f}, "
            f"brightest ink {ink:.2f} after inversion={str(bool(inverted)).lower()})"
        )
    x = np.clip((x - bg) / (ink - bg), 0.0, 1.0)

    rows = np.flatnonzero((x > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((x > INK_THRESHOLD).any(axis=0))
    x = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    h, w = x.shape
    new_w = max(1, round(w * height / h))
    if (h, w) != (height, new_w):
        scaled = Image.fromarray(x.astype(np.float32), mode="F").resize((new_w, height), Image.Resampling.LANCZOS)
        x = np.clip(np.asarray(scaled, dtype=np.float64), 0.0, 1.0)

    if block is not None:
        target = fitted_width(new_w, block, stride)
        out = np.zeros((height, target))
        out[:, :new_w] = x
    elif width is not None:
        out = np.zeros((height, width))
        if new_w <= width:
            left = (width - new_w) // 2
            out[:, left : left + new_w] = x
        else:
            left = (new_w - width) // 2
            out[:] = x[:, left : left + width]
    else:
        out = x
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))[None, None]


# ---------------------------------------------------------------------------------------------- model


def load_model(path: str | Path):
    """The FontClassifier of a checkpoint, on the CPU in eval mode; one CheckpointError for a bad file."""
    from fwtk_lab.training.module import FontClassifier

    load_checkpoint(path)  # missing, truncated or foreign file: one clear message
    try:
        model = FontClassifier.load_from_checkpoint(str(path), map_location="cpu")
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise CheckpointError(f"checkpoint {str(path)!r} does not rebuild a FontClassifier ({reason})") from None
    return model.eval()


def input_spec(model) -> dict:
    """What `prepare_image` needs for this model: height, and width (flat) or block/stride (blocks)."""
    h, w = (int(v) for v in model.hparams.image_shape)
    if getattr(model.encoder, "takes_blocks", False):
        return {"height": h, "width": None, "block": int(model.slicer.width), "stride": int(model.slicer.stride)}
    return {"height": h, "width": w, "block": None, "stride": None}


def describe(model, spec: dict) -> str:
    target = str(model.cfg.model.get("_target_", "?")).rsplit(".", 1)[-1]
    if spec["block"] is not None:
        shape = f"{spec['height']} px high, blocks of {spec['block']} px every {spec['stride']} px (any width)"
    else:
        shape = f"{spec['height']}x{spec['width']} px (flat)"
    return f"{target}, {len(model.classes)} fonts, input {shape}"


@torch.inference_mode()
def probabilities(model, x: torch.Tensor) -> list[float]:
    """The model's class probabilities for one prepared image (1, 1, H, W) in [0, 1].

    Rescaled to the pixel range the model was trained on (data.pixel_scale); softmax, or the normalised
    sigmoids of a loss=keras_sigmoid_ce run."""
    scale = 255.0 / float(model.cfg.data.get("pixel_scale", 255.0))
    logits = model(x.to(model.device) * scale)
    return class_probabilities(model.cfg.get("loss", "ce"), logits.double())[0].cpu().tolist()


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
    "input_shape"}]}; every image is read before the model is loaded, so a bad path fails fast."""
    pictures = [(path, read_image(path)) for path in images]
    model = load_model(ckpt_path)
    spec = input_spec(model)
    predictions = []
    for path, img in pictures:
        try:
            x = prepare_image(img, spec["height"], spec["width"], spec["block"], invert, stride=spec["stride"])
        except ImageError as e:
            raise ValueError(f"image {path!r}: {e}") from None
        probs = probabilities(model, x)
        ranked = sorted(zip(model.classes, probs), key=lambda kv: -kv[1])
        if top_k is not None:
            ranked = ranked[:top_k]
        predictions.append(
            {
                "image": path,
                "probabilities": {name: float(p) for name, p in ranked},
                "top": ranked[0][0],
                "input_shape": [int(x.shape[-2]), int(x.shape[-1])],
            }
        )
    return {
        "checkpoint": str(ckpt_path),
        "model": describe(model, spec),
        "classes": list(model.classes),
        "predictions": predictions,
    }


def format_table(result: dict) -> str:
    """Plain aligned text (nothing wraps or truncates in pipes): per image, rank, font, probability."""
    lines = [f"checkpoint {result['checkpoint']} ({result['model']})"]
    for pred in result["predictions"]:
        h, w = pred["input_shape"]
        lines += ["", f"{pred['image']}  (model input {h}x{w} px)"]
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
def _main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    sys.argv[:] = normalize_argv(sys.argv)
    launch(_main, "predict")


if __name__ == "__main__":
    main()
