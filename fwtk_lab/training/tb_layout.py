"""TensorBoard's Custom Scalars layout: train and val on one chart per metric, every font's accuracy on one chart."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

# Each chart is a regex over scalar tags (tensorboard.plugins.custom_scalar); one line per matching tag.
LAYOUT = {
    "train vs val": {
        "accuracy": ["Multiline", [r"^(train|val)/acc$"]],
        "loss": ["Multiline", [r"^(train|val)/loss$"]],
    },
    "accuracy per font": {
        "val": ["Multiline", [r"^val/acc_font/"]],
        "test": ["Multiline", [r"^test/acc_font/"]],
    },
}


class ScalarsLayout(pl.Callback):
    """Write the Custom Scalars layout into the run's TensorBoard events once, when fitting starts."""

    def __init__(self, layout: dict | None = None):
        self.layout = layout or LAYOUT

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tb = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if tb is not None and trainer.is_global_zero:
            tb.experiment.add_custom_scalars(self.layout)
            tb.experiment.flush()
