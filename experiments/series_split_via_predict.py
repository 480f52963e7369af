"""The series' own test images (dataset=var_jitter) read the way `predict` reads any image.

    .venv/bin/python experiments/series_split_via_predict.py CKPT [CKPT ...] [--n 3000]

Prints, per checkpoint, the accuracy on a seeded sample of the var_jitter test split when each 64x16 image
goes through lineprep (geometry from its ink, windows, temperature), as a user's PNG would. What a model
trained on `lines` gives up on the series' data, and what one trained on var_jitter loses when it reads
its own images like real ones.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from fwtk_lab.core.config import CONF_DIR, validate
from fwtk_lab.data import dataset, splits
from fwtk_lab.inference.classify import classify, label_key, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ckpts", nargs="+")
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=["dataset=var_jitter"])
    validate(cfg)
    store = dataset.prepare(cfg.dataset, cfg.paths.data_dir)
    codes = splits.assign(store.num_phrases, dict(cfg.dataset.split), cfg.dataset.split.seed)
    test = splits.indices(store.phrase_ids, codes)["test"]
    rows = np.sort(np.random.default_rng(0).choice(test, size=min(args.n, len(test)), replace=False))
    images, labels = np.asarray(store.images[rows]), np.asarray(store.labels[rows])
    for path in args.ckpts:
        model = load_model(path)
        index = {label_key(c): i for i, c in enumerate(model.classes)}
        truth = np.array([index[label_key(store.classes[y])] for y in labels])
        tops = np.array([classify(model, img.astype(np.float64) / 255).top for img in images])
        print(f"{path}: {np.mean(tops == truth):.4f} of {len(rows)} var_jitter test images via predict's preparation")


if __name__ == "__main__":
    main()
