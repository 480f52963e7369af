"""Evaluation: images/s of testing the test split with fwtk_lab's Trainer vs its training samples/s."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from experiments.bench import lab
from experiments.bench.callbacks import EpochTimer
from experiments.bench.overhead import ours
from experiments.bench.store import save, spread


def run(model: str = "cnn_rnn", quick: bool = False, rounds: int = 3) -> None:
    """The test loop's images/s alternating with `ours` training samples/s in one process; stored as eval/model."""
    dm = lab.default_store()
    n_test = len(dm.rows["test"])
    test_rates, train_rates, whole = [], [], []
    for _ in range(1 if quick else rounds):
        with tempfile.TemporaryDirectory() as tmp:
            over = [f"model={model}", "trainer.enable_progress_bar=false", f"+trainer.default_root_dir={tmp}"]
            if quick:
                over.append("trainer.limit_test_batches=3")
            cfg = lab.compose(over, Path(tmp))
            clf = lab.classifier(cfg, dm.classes, dm.image_shape)
            trainer = lab.build_trainer(cfg)
            loop = EpochTimer()
            trainer.callbacks.append(loop)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                trainer.test(clf, datamodule=dm)
            whole.append(time.perf_counter() - t0)
            seen = n_test if not quick else 3 * cfg.data.eval_batch_size
            test_rates.append(seen / loop.seconds)
        train_rates.append(ours(model, [], 5 if quick else 30, 20 if quick else 150, dm))
    value = {
        "test_images": n_test,
        "test_images_per_s": spread(test_rates),
        "test_seconds": spread(whole),
        "train_samples_per_s": spread(train_rates),
        "ratio": spread([a / b for a, b in zip(test_rates, train_rates)]),
    }
    save("eval", model, value, quick)
