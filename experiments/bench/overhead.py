"""Framework overhead: a plain PyTorch loop vs a bare LightningModule vs fwtk_lab's path, training samples/s.

The models: cnn_rnn and rnn (the targets: ours >= 0.97x bare Lightning) and `one_parameter`, an encoder that
does almost nothing (experiments/bench/tiny.py), whose step time is each framework's fixed cost per step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from experiments.bench import lab
from experiments.bench.callbacks import BATCH, Window
from experiments.bench.store import save, spread

OURS_VARIANTS = {  # name -> overrides: where the time of our path goes
    "ours": [],
    "ours_no_bar": ["trainer.enable_progress_bar=false"],
    "ours_lean": [
        "callbacks=none",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "checkpoint.every_n_steps=null",
    ],
}


def plain_loop(model: str, images: torch.Tensor, labels: torch.Tensor, warm: int, steps: int, lr: float) -> float:
    """A plain PyTorch loop: permuted in-memory batches, scale, slice, forward, loss, backward, Adam (on the
    images' device; the time ends with the device's queued work)."""
    clf = lab.make_encoder(model).to(images.device)
    slicer, enc = clf.slicer, clf.encoder
    enc.train()
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).to(images.device)
    t0 = 0.0
    for i in range(warm + steps):
        if i == warm:
            t0 = time.perf_counter()
        idx = order[(i * BATCH) % (len(images) - BATCH) :][:BATCH]
        x = images[idx].float().div_(255)
        loss = F.cross_entropy(enc(slicer(x) if enc.takes_blocks else x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i == warm - 1 and images.is_cuda:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
    if images.is_cuda:
        torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - t0)


class _Pairs(torch.utils.data.Dataset):
    """(image, label) of in-memory tensors; the sampler hands whole batches of indices."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx):
        return self.images[idx], self.labels[idx]


def bare_lightning(model: str, images: torch.Tensor, labels: torch.Tensor, warm: int, steps: int, lr: float) -> float:
    """A bare LightningModule: the plain loop's step in training_step; no metrics, logging, callbacks or checkpoints.
    Batches are gathered where the images are (on a GPU: resident there, as data.resident=true)."""
    clf = lab.make_encoder(model)

    class Bare(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.slicer, self.encoder = clf.slicer, clf.encoder

        def training_step(self, batch, batch_idx):
            x, y = batch
            x = x.float().div_(255)
            return F.cross_entropy(self.encoder(self.slicer(x) if self.encoder.takes_blocks else x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr)

    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).to(images.device)
    batches = [order[i : i + BATCH] for i in range(0, len(order) - BATCH + 1, BATCH)]
    loader = DataLoader(_Pairs(images, labels), batch_size=None, sampler=batches)
    window = Window(warm, steps)
    with tempfile.TemporaryDirectory() as tmp:  # nothing of Lightning's lands in the working directory
        trainer = pl.Trainer(
            accelerator="gpu" if images.is_cuda else "cpu",
            devices=1,
            max_epochs=100,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[window],
            num_sanity_val_steps=0,
            limit_val_batches=0,
            default_root_dir=tmp,
        )
        trainer.fit(Bare(), loader)
    return window.rate


def ours(model: str, overrides: list[str], warm: int, steps: int, dm=None, extra: list | None = None) -> float:
    """fwtk_lab's path: FontClassifier + FontDataModule + the Trainer of `fwtk_lab.train` (its callbacks, logger,
    resumption and preemption callbacks, the dataset record); dm: a set-up data module (None: the config's)."""
    with tempfile.TemporaryDirectory() as tmp:
        over = [*lab.model_overrides(model), f"data.batch_size={BATCH}", f"+trainer.default_root_dir={tmp}", *overrides]
        cfg = lab.compose(over, Path(tmp))  # callbacks=none: Lightning's default ModelCheckpoint writes to tmp
        if dm is None:
            dm = lab.datamodule(cfg)
        dm.data_cfg = cfg.data
        torch.manual_seed(0)
        clf = lab.classifier(cfg, dm.classes, dm.image_shape)
        trainer = lab.run_trainer(cfg, dm)
        window = Window(warm, steps)
        trainer.callbacks += [window, *(extra or [])]
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            trainer.fit(clf, datamodule=dm)
        return window.rate


def run(model: str, quick: bool = False, rounds: int = 9) -> None:
    """Samples/s of every variant, alternating in rounds on the same training rows; stored as `model`."""
    dm = lab.default_store()
    rows = dm.rows["train"]
    n = min(len(rows), (60 if quick else 400) * BATCH)
    sel = np.sort(rows[:n])
    images = torch.from_numpy(np.ascontiguousarray(dm.store.images[sel]))[:, None]
    labels = torch.from_numpy(np.ascontiguousarray(dm.store.labels[sel]))
    torch.set_num_threads(1)
    lr = 0.003
    warm = 5 if quick else 30
    steps = 20 if quick else (150 if model.startswith("cnn") else 300)
    rates: dict[str, list[float]] = {"plain": [], "bare_lightning": [], **{k: [] for k in OURS_VARIANTS}}
    for _ in range(2 if quick else rounds):
        rates["plain"].append(plain_loop(model, images, labels, warm, steps, lr))
        rates["bare_lightning"].append(bare_lightning(model, images, labels, warm, steps, lr))
        for name, over in OURS_VARIANTS.items():
            rates[name].append(ours(model, over, warm, steps, dm))
    us = {k: [1e6 * BATCH / r for r in v] for k, v in rates.items()}  # microseconds per step
    value = {
        "samples_per_s": {k: spread(v) for k, v in rates.items()},
        "us_per_step": {k: spread(v) for k, v in us.items()},
        "ratio_to_plain": {k: spread([a / b for a, b in zip(v, rates["plain"])]) for k, v in rates.items()},
        "ratio_to_bare": {k: spread([a / b for a, b in zip(v, rates["bare_lightning"])]) for k, v in rates.items()},
        "us_over_bare": {k: spread([a - b for a, b in zip(v, us["bare_lightning"])]) for k, v in us.items()},
        "batch": BATCH,
        "threads": 1,
    }
    save("overhead", model, {**value, "warm_steps": warm, "steps": steps}, quick)
