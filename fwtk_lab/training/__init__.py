"""The model's training: the LightningModule, its losses, calibration, AIC, callbacks and figures, and the model config checks."""
