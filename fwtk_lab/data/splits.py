"""Train / val / test splits by phrase: every font of a phrase lands in the same split."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def assign(num_phrases: int, fractions: dict[str, float], seed: int) -> np.ndarray:
    """A split code (0 train, 1 val, 2 test) per phrase from a seeded permutation of the phrases."""
    fr = np.array([float(fractions[s]) for s in SPLITS])
    if (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"dataset.split fractions {dict(zip(SPLITS, fr.tolist()))} must be >= 0 and sum to 1")
    order = np.random.default_rng(seed).permutation(num_phrases)
    bounds = np.round(np.cumsum(fr) * num_phrases).astype(int)
    bounds[-1] = num_phrases  # every phrase gets a split, whatever the rounding
    codes = np.empty(num_phrases, dtype=np.int8)
    start = 0
    for k, stop in enumerate(bounds):
        codes[order[start:stop]] = k
        start = stop
    return codes


def indices(phrase_ids: np.ndarray, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each split (sorted, int64)."""
    per_row = codes[np.asarray(phrase_ids)]
    return {name: np.flatnonzero(per_row == k) for k, name in enumerate(SPLITS)}
