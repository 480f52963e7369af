"""Splits by phrase: fractions, seeding, every phrase assigned."""

from __future__ import annotations

import numpy as np
import pytest

from fwtk_lab.data import splits

# ------------------------------------------------------------------------------------------------ 5. splits

FRACTIONS = {"train": 0.5, "val": 0.1, "test": 0.4}


def test_splits_assign_and_indices():
    n = 200
    codes = splits.assign(n, FRACTIONS, seed=3)
    assert codes.shape == (n,) and set(np.unique(codes).tolist()) <= {0, 1, 2}
    for k, name in enumerate(splits.SPLITS):
        assert abs((codes == k).sum() - FRACTIONS[name] * n) <= 1
    phrase_ids = np.tile(np.arange(n), 3)
    idx = splits.indices(phrase_ids, codes)
    sets = {name: set(phrase_ids[rows].tolist()) for name, rows in idx.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sets["train"] | sets["val"] | sets["test"] == set(range(n))
    assert sum(len(r) for r in idx.values()) == len(phrase_ids)
    for rows in idx.values():
        assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
        assert np.all(np.bincount(phrase_ids[rows], minlength=n)[phrase_ids[rows]] == 3)  # all fonts together
    assert np.array_equal(codes, splits.assign(n, FRACTIONS, seed=3))
    assert not np.array_equal(codes, splits.assign(n, FRACTIONS, seed=4))
    odd = splits.assign(7, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    assert np.bincount(odd, minlength=3).sum() == 7 and set(np.unique(odd).tolist()) <= {0, 1, 2}


@pytest.mark.parametrize(
    "bad",
    [
        {"train": 0.5, "val": 0.5, "test": 0.5},
        {"train": 1.2, "val": -0.2, "test": 0.0},
        {"train": 0.5, "val": 0.1, "test": 0.3},
    ],
)
def test_splits_bad_fractions(bad):
    with pytest.raises(ValueError, match="fractions"):
        splits.assign(10, bad, seed=0)


def test_splits_every_phrase_gets_a_split(monkeypatch):
    real_empty = np.empty

    def poisoned(shape, dtype=float, *a, **k):  # make uninitialised memory visible
        out = real_empty(shape, dtype, *a, **k)
        out.fill(99)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
    n = 100_000
    codes = splits.assign(n, {"train": 0.5, "val": 0.1, "test": 0.39999}, seed=0)
    monkeypatch.undo()
    assert set(np.unique(codes).tolist()) <= {0, 1, 2}
