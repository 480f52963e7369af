"""The batch order resumes inside an epoch; evaluation shards count every sample once; no global RNG is used."""

from __future__ import annotations

import numpy as np
import torch

from fwtk_lab.data.datamodule import EpochBatchSampler, ResumableLoader


def test_resume_skips_exactly_the_batches_already_trained():
    full = EpochBatchSampler(103, 8, True, seed=3)
    full.set_epoch(2)
    want = [b.tolist() for b in full]
    resumed = EpochBatchSampler(103, 8, True, seed=3)
    resumed.resume(2, 5)
    resumed.set_epoch(2)
    assert [b.tolist() for b in resumed] == want[5:]
    resumed.set_epoch(3)  # the skip applies once, to that epoch only
    full.set_epoch(3)
    assert [b.tolist() for b in resumed] == [b.tolist() for b in full]


def test_skip_for_another_epoch_is_ignored():
    s = EpochBatchSampler(40, 8, True, seed=0)
    s.resume(1, 3)
    s.set_epoch(2)  # the checkpoint was written at the end of epoch 1: epoch 2 starts from its first batch
    assert len(list(s)) == 5


def test_evaluation_shards_hold_every_sample_once():
    for n in (1, 7, 50, 51):
        for world in (2, 3):
            seen = []
            for rank in range(world):
                s = EpochBatchSampler(n, 4, False, seed=0, rank=rank, world_size=world)
                batches = list(s)
                assert len(batches) == len(s)
                seen += np.concatenate(batches).tolist() if batches else []
            assert sorted(seen) == list(range(n)), (n, world)


def test_loader_state_is_the_trainers_progress_and_draws_no_global_rng():
    sampler = EpochBatchSampler(64, 8, True, seed=0)
    done = {"n": 3}
    loader = ResumableLoader(
        np.arange(64),
        batch_size=None,
        sampler=sampler,
        done=lambda: done["n"],
        generator=torch.Generator().manual_seed(0),
    )
    sampler.set_epoch(4)
    assert loader.state_dict() == {"epoch": 4, "batches": 3}
    before = torch.get_rng_state()
    next(iter(loader))  # creating an iterator must not advance the global torch generator (dropout uses it)
    assert torch.equal(before, torch.get_rng_state())
    other = EpochBatchSampler(64, 8, True, seed=0)
    ResumableLoader(np.arange(64), batch_size=None, sampler=other, done=lambda: 0).load_state_dict(
        {"epoch": 4, "batches": 3}
    )
    assert other.skip == (4, 3)
