"""The training run's pieces: the LightningModule, callbacks, figures and checkpoint I/O."""
