"""The dataset a checkpoint was trained on, recorded in the checkpoint, so that `evaluate` can tell
when the data it would build now differ (a changed corpus file, font file or recipe)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

KEY = "fwtk_dataset"  # checkpoint entry: {"name": "<recipe>-<key>", "key": cache key, "manifest_sha256": ...}


def identity_of(store) -> dict:
    m = store.manifest
    return {
        "name": store.root.name,
        "key": m.get("key"),
        "manifest_sha256": m.get("manifest_sha256"),
        "classes": list(m.get("classes", [])),
        "num_phrases": m.get("num_phrases"),
    }


class RecordDataset(pl.Callback):
    """Adds the data module's dataset identity to every checkpoint saved."""

    def __init__(self, datamodule):
        self.datamodule = datamodule

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.datamodule.store is not None:
            checkpoint[KEY] = identity_of(self.datamodule.store)
