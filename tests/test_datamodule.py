"""The Lightning data module: by-phrase splits, whole-batch indexing, seeded sharded sampling, scaling."""

from __future__ import annotations

import numpy as np
import torch
from conftest import compose_train

from fwtk_lab.data.datamodule import BatchIndexed, EpochBatchSampler, FontDataModule


def test_datamodule_splits_by_phrase(tiny_store, data_dir, tmp_path):
    cfg = compose_train([], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=cfg.seed)
    dm.setup()
    assert dm.store.root == tiny_store.root  # the same tiny dataset, from the cache
    assert dm.classes == tiny_store.classes and dm.image_shape == (16, 64)
    pid = np.asarray(dm.store.phrase_ids)
    sets = {name: set(pid[rows].tolist()) for name, rows in dm.rows.items()}
    assert all(sets.values())
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sum(len(r) for r in dm.rows.values()) == len(pid)
    labels = np.asarray(dm.store.labels)
    for rows in dm.rows.values():
        fonts_of = {}
        for p, lab in zip(pid[rows].tolist(), labels[rows].tolist()):
            fonts_of.setdefault(p, set()).add(lab)
        assert all(v == {0, 1, 2} for v in fonts_of.values())
    assert abs(len(sets["train"]) - 0.5 * 200) <= 1 and abs(len(sets["test"]) - 0.4 * 200) <= 1


# ------------------------------------------------------------------------------------------ 10. data module


def _module(data_dir, tmp_path, seed=0):
    cfg = compose_train([], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=seed)
    dm.setup()
    return dm


def test_datamodule_batches(tiny_store, data_dir, tmp_path):
    dm = _module(data_dir, tmp_path)
    dl = dm.train_dataloader()
    batches = list(dl)
    n_train = len(dm.rows["train"])
    assert len(batches) == len(dl) == -(-n_train // 32)
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (32, 1, 16, 64)
    assert labels.dtype == torch.int64 and labels.shape == (32,)
    assert sum(len(b[1]) for b in batches) == n_train
    x, y = dm.on_after_batch_transfer((images, labels), 0)
    assert x.dtype == torch.float32 and x.shape == images.shape
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) == 1.0
    assert torch.allclose(x * 255, images.float())
    assert torch.equal(y, labels)
    val = list(dm.val_dataloader())
    assert sum(len(b[1]) for b in val) == len(dm.rows["val"]) and len(val[0][1]) <= 256


def test_datamodule_seeded_order(tiny_store, data_dir, tmp_path):
    def epoch(dm, e=None):
        dl = dm.train_dataloader()
        if e is not None:
            dl.sampler.set_epoch(e)
        return [(x.clone(), y.clone()) for x, y in dl]

    a, b = _module(data_dir, tmp_path / "a"), _module(data_dir, tmp_path / "b")
    ea, eb = epoch(a), epoch(b)
    assert len(ea) == len(eb)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(ea, eb))
    e1 = epoch(a, 1)
    assert not all(torch.equal(x0, x1) for (x0, _), (x1, _) in zip(ea, e1))
    # the same multiset of images each epoch, only in a different order
    assert torch.equal(
        torch.sort(torch.cat([y for _, y in ea])).values, torch.sort(torch.cat([y for _, y in e1])).values
    )
    c = _module(data_dir, tmp_path / "c", seed=1)
    assert not all(torch.equal(x0, x1) for (x0, _), (x1, _) in zip(ea, epoch(c)))


def test_batch_indexing_is_whole_batch(tiny_store):
    rows = np.array([5, 300, 17, 599, 0])
    ds = BatchIndexed(tiny_store, rows)
    assert len(ds) == 5
    images, labels = ds[[0, 1, 2]]
    assert images.shape == (3, 1, 16, 64) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    want = np.sort(rows[[0, 1, 2]])
    assert np.array_equal(images[:, 0].numpy(), np.asarray(tiny_store.images)[want])
    assert np.array_equal(labels.numpy(), np.asarray(tiny_store.labels)[want])
    images, labels = ds[np.arange(5)]
    assert images.shape == (5, 1, 16, 64)


def test_sampler_shards_cover_everything():
    n, bs = 50, 4
    seen = []
    for rank in range(3):
        s = EpochBatchSampler(n, bs, True, seed=0, rank=rank, world_size=3)
        batches = list(s)
        assert len(batches) == len(s) and all(len(b) <= bs for b in batches)
        seen += np.concatenate(batches).tolist()
    assert set(seen) == set(range(n)) and len(seen) == 3 * 17  # padded from the start: 50 -> 51
    s = EpochBatchSampler(n, bs, False, seed=0, drop_last=True)
    assert [b.tolist() for b in s][0] == [0, 1, 2, 3] and len(list(s)) == len(s) == n // bs


def test_sampler_ranks_get_equal_batch_counts():
    for n in range(1, 30):
        for world in (2, 3, 4):
            for bs in (1, 2, 3, 4):
                lens = {len(EpochBatchSampler(n, bs, True, 0, False, r, world)) for r in range(world)}
                assert len(lens) == 1, (n, world, bs, lens)


def test_resident_batches_equal_the_memory_mapped_ones(tiny_store, data_dir, tmp_path):
    """data.resident=true: the loader yields row numbers, the images come from the copy on the device; every batch
    of every split equals the memory-mapped one, in the same order, and the run's identity is unchanged."""
    from fwtk_lab.runs.identity import config_hash

    cfg = compose_train([], tmp_path)
    resident_cfg = compose_train(["data.resident=true"], tmp_path)
    assert config_hash(resident_cfg) == config_hash(cfg)  # an execution setting: the same run directory
    mapped = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=0)
    resident = FontDataModule(resident_cfg.dataset, resident_cfg.data, data_dir, seed=0)
    for dm in (mapped, resident):
        dm.setup()
    for split, shuffle in (("train", True), ("val", False), ("test", False)):
        ours = [resident.on_after_batch_transfer(b, 0) for b in resident.loader(split, shuffle)]
        theirs = [mapped.on_after_batch_transfer(b, 0) for b in mapped.loader(split, shuffle)]
        assert len(ours) == len(theirs) > 0
        for (x, y), (x0, y0) in zip(ours, theirs):
            assert torch.equal(x, x0) and torch.equal(y, y0) and x.dtype == torch.float32
    mapped.data_cfg = resident_cfg.data  # new settings (as the benchmarks give a shared data module) take effect
    assert mapped.resident and isinstance(next(iter(mapped.loader("val", False))), torch.Tensor)
