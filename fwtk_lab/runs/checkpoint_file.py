"""Checkpoints read without unpickling arbitrary objects (`weights_only=True`: tensors, numbers, strings,
containers). No Lightning here: `python -m fwtk_lab.predict` reads checkpoints without loading it; the
Trainer's atomic writer is runs/checkpoint_io.py."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from fwtk_lab.core.errors import UserError


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that is missing, truncated or not a Lightning checkpoint."""


def load(path, map_location: Any = "cpu") -> dict[str, Any]:
    """torch.load with one clear message for a missing, truncated or foreign file."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(
            f"checkpoint {str(p)!r} is a directory; give a .ckpt file inside it, e.g. {str(p / 'last.ckpt')!r}"
        )
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; give ckpt_path=<run dir>/checkpoints/<file>.ckpt")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), lines[0] if lines else "")
        if "GLOBAL" in str(e) or "Unsupported global" in str(e):  # a class or function to import: refused
            raise CheckpointError(
                f"checkpoint {str(p)!r} holds objects other than tensors and plain values ({detail}); "
                f"refused, since loading it could run code: only checkpoints written by fwtk_lab load"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(p)!r} cannot be read (UnpicklingError: {detail}); it is truncated or not a checkpoint"
        ) from None
    except Exception as e:  # torch raises many types for a damaged file
        reason = " ".join(f"{type(e).__name__}: {e}".split())  # one line
        raise CheckpointError(
            f"checkpoint {str(p)!r} cannot be read ({reason}); it is truncated or not a checkpoint"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(
            f"checkpoint {str(p)!r} is not an fwtk_lab Lightning checkpoint (no state_dict/hyper_parameters)"
        )
    return ckpt
