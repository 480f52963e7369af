"""AIC on the split a model was fitted to: AIC = 2k - 2 ln L = 2k + 2 x (NLL summed over the training split)."""

from __future__ import annotations

import torch

from fwtk_lab.training import losses


@torch.no_grad()
def summed_nll(model, datamodule, split: str = "train") -> tuple[float, int]:
    """(summed negative log-likelihood in float64, images) of the model over a split, in eval mode, no shuffling."""
    was_training = model.training
    model.eval()
    loss = losses.get(model.cfg.get("loss", "ce"))
    total, n = 0.0, 0
    try:
        for batch in datamodule.loader(split, shuffle=False):
            batch = datamodule.transfer_batch_to_device(batch, model.device, 0)  # Lightning's hooks, in its order
            images, labels = datamodule.on_after_batch_transfer(batch, 0)
            total += float(loss(model(images).double(), labels, reduction="sum"))
            n += labels.numel()
    finally:
        model.train(was_training)
    return total, n


def train_aic(model, datamodule) -> dict:
    """metrics.json entries: train/nll_sum, train/n, train/aic (k = the encoder's parameters)."""
    nll, n = summed_nll(model, datamodule, "train")
    return {"train/nll_sum": nll, "train/n": n, "train/aic": 2 * model.num_parameters + 2 * nll}
