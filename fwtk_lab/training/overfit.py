"""debug=overfit: the same few training batches every epoch, so the training loss must fall towards 0."""

from __future__ import annotations

import pytorch_lightning as pl


class SameBatches(pl.Callback):
    """Rewind the training sampler to epoch 0 at every epoch start (with `trainer.limit_train_batches=n`:
    the same n batches each epoch).

    Lightning's own `overfit_batches` swaps the sampler for a SequentialSampler of single samples, which
    the data module's batch sampler (one indexing call per batch) does not survive.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loaders = trainer.train_dataloader
        for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
            for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(0)
