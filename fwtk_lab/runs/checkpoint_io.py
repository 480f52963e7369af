"""Checkpoints written atomically (a crash mid-save leaves the previous file, never a truncated one) and read
with runs/checkpoint_file.py's safe `load`: the Trainer's checkpoint plugin."""

from __future__ import annotations

import io
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from fwtk_lab.core.files import atomic_write_bytes
from fwtk_lab.runs.checkpoint_file import load


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write_bytes(path, buf.getvalue())

    def load_checkpoint(
        self, path, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load(path, map_location)
