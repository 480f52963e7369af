"""Importing the original's HDF5 layout (one (N,16,W) uint8 dataset per font)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dataset_cfg

from fwtk_lab.core.config import ConfigError
from fwtk_lab.data import dataset, store

# ------------------------------------------------------------------------------------------ 9. HDF5 import


def test_h5_round_trip(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    names = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "cmr10.ttf"]
    upright = {k: rng.integers(0, 256, (40, 16, 64), dtype=np.uint8) for k in names}
    path = tmp_path / "orig.h5"
    with h5py.File(path, "w") as f:
        for k in names:
            f.create_dataset(k, data=upright[k][:, ::-1, :])  # the series stored images upside down
    s = dataset.prepare(dataset_cfg(source="h5", path=str(path), flipud=True, name="h5"), tmp_path / "data")
    assert s.images.shape == (120, 16, 64) and s.images.dtype == np.uint8
    assert s.classes == ["DejaVuSans", "DejaVuSerif", "cmr10"]
    labels = np.asarray(s.labels)
    assert labels.dtype == np.int64 and np.array_equal(labels, np.repeat(np.arange(3), 40))
    assert np.array_equal(np.asarray(s.phrase_ids), np.tile(np.arange(40), 3))
    for label, cls in enumerate(s.classes):
        assert np.array_equal(np.asarray(s.images)[labels == label], upright[cls + ".ttf"])
    store.verify(s.root)
    # without flipud the stored orientation is kept, and it is a different cache
    s2 = dataset.prepare(dataset_cfg(source="h5", path=str(path), flipud=False, name="h5"), tmp_path / "data")
    assert s2.root != s.root
    assert np.array_equal(np.asarray(s2.images)[:40], upright["DejaVuSans.ttf"][:, ::-1, :])


def test_h5_bad_files(tmp_path):
    h5py = pytest.importorskip("h5py")
    bad_dtype = tmp_path / "dtype.h5"
    with h5py.File(bad_dtype, "w") as f:
        f.create_dataset("DejaVuSans.ttf", data=np.zeros((4, 16, 64), np.uint8))
        f.create_dataset("Weird.ttf", data=np.zeros((4, 16, 64), np.float32))
    with pytest.raises(ConfigError, match="Weird.ttf"):
        dataset.prepare(dataset_cfg(source="h5", path=str(bad_dtype), name="h5"), tmp_path / "data")
    bad_shape = tmp_path / "shape.h5"
    with h5py.File(bad_shape, "w") as f:
        f.create_dataset("DejaVuSans.ttf", data=np.zeros((4, 16, 64), np.uint8))
        f.create_dataset("Narrow.ttf", data=np.zeros((4, 16, 32), np.uint8))
    with pytest.raises(ConfigError, match="Narrow.ttf"):
        dataset.prepare(dataset_cfg(source="h5", path=str(bad_shape), name="h5"), tmp_path / "data")
    with pytest.raises(ConfigError, match="does not exist"):
        dataset.prepare(dataset_cfg(source="h5", path=str(tmp_path / "none.h5"), name="h5"), tmp_path / "data")
    one_font = tmp_path / "one.h5"
    with h5py.File(one_font, "w") as f:
        f.create_dataset("DejaVuSans.ttf", data=np.zeros((4, 16, 64), np.uint8))
    with pytest.raises(ConfigError, match=r"one\.h5.*only the dataset 'DejaVuSans\.ttf'.*at least 2 fonts"):
        dataset.prepare(dataset_cfg(source="h5", path=str(one_font), name="h5"), tmp_path / "data")
    not_h5 = tmp_path / "garbage.h5"
    not_h5.write_bytes(b"definitely not hdf5" * 10)
    with pytest.raises(ConfigError, match="garbage.h5"):
        dataset.prepare(dataset_cfg(source="h5", path=str(not_h5), name="h5"), tmp_path / "data")
    # failed imports leave no cache directories behind
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []
