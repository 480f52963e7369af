"""Choose the `unknown` threshold of a checkpoint on held-out fonts and store it in the checkpoint.

    python -m fwtk_lab.calibrate ckpt_path=<run dir>/checkpoints/best-....ckpt images=DIR [known_flagged=0.03]

DIR holds lines of the model's own fonts and of fonts of other families (never the fonts you report on
later), labelled as `evaluate images=DIR` reads them. The threshold is the confidence below which the
share `known_flagged` of the known-font lines falls; the share of unseen-font lines below it is printed.
The checkpoint is rewritten atomically with `calibration.unknown_threshold` and how it was chosen.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.core import threads
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import atomic_write_bytes
from fwtk_lab.inference import folder
from fwtk_lab.inference.classify import judge, load_model
from fwtk_lab.runs.checkpoint_file import load as load_checkpoint


def choose_threshold(known: np.ndarray, known_flagged: float) -> float:
    """The confidence below which the share `known_flagged` of the known-font confidences lies."""
    return float(np.quantile(known, known_flagged))


def calibrate(ckpt_path: str, images: str, known_flagged: float = 0.03, invert: str = "auto") -> dict:
    if not 0 < known_flagged < 0.5:
        raise ConfigError(f"known_flagged={known_flagged}; accepted: a share between 0 and 0.5, e.g. 0.03")
    model = load_model(ckpt_path)
    model.unknown_threshold = None  # the confidences themselves, whatever was chosen before
    records = folder.run(model, folder.read_folder(images), invert)
    sides = {"known": [r for r in records if r["label"] >= 0], "unseen": [r for r in records if r["label"] < 0]}
    if not sides["known"] or not sides["unseen"]:
        raise ConfigError(
            f"images={images!r} holds {len(sides['known'])} lines of the model's fonts ({', '.join(model.classes)}) "
            f"and {len(sides['unseen'])} of other fonts; the threshold needs both"
        )
    threshold = choose_threshold(np.array([r["confidence"] for r in sides["known"]]), known_flagged)
    chosen = {"unknown_threshold": threshold, "images": str(Path(images).resolve())}
    for side, rows in sides.items():  # with the threshold: `other` answers count too (dataset.other_fonts)
        chosen[f"{side}_fonts"] = sorted({r["font"] for r in rows})
        chosen[f"{side}_lines"] = len(rows)
        chosen[f"{side}_flagged"] = float(
            np.mean([judge(np.array(r["probabilities"]), model.classes, threshold).unknown for r in rows])
        )
    ckpt = load_checkpoint(ckpt_path)
    ckpt.setdefault("calibration", {"temperature": float(model.temperature)})
    ckpt["calibration"].update({"unknown_threshold": threshold, "unknown_selection": chosen})
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(ckpt_path, buf.getvalue())
    return chosen


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="calibrate")
@friendly_errors
def main(cfg: DictConfig) -> None:
    for key in ("ckpt_path", "images"):
        if cfg.get(key) in (None, "???"):
            raise ConfigError(f"{key} is required: python -m fwtk_lab.calibrate ckpt_path=FILE.ckpt images=DIR")
    share = cfg.known_flagged
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise ConfigError(f"known_flagged={share!r}; accepted: a share between 0 and 0.5, e.g. 0.03")
    invert = str(cfg.invert).lower()
    if invert not in ("auto", "true", "false"):
        raise ConfigError(f"invert={cfg.invert!r}; accepted: auto, true, false")
    threads.configure(cfg.get("threads"))
    chosen = calibrate(str(cfg.ckpt_path), str(cfg.images), float(share), invert)
    print(json.dumps(chosen, indent=2), flush=True)
    print(
        f"unknown threshold {chosen['unknown_threshold']:.4f} written into {cfg.ckpt_path}: "
        f"{chosen['known_flagged']:.1%} of {chosen['known_lines']} known-font lines and "
        f"{chosen['unseen_flagged']:.1%} of {chosen['unseen_lines']} unseen-font lines fall below it",
        flush=True,
    )


if __name__ == "__main__":
    launch(main, "calibrate")
