"""LightningDataModule: whole batches indexed from the memory-mapped uint8 array, scaled on the device; or
(data.resident=true) the whole array copied to the device once, and only the batches' row numbers travel."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fwtk_lab.core.config import DataConfig, DatasetConfig
from fwtk_lab.data import dataset as dataset_lib
from fwtk_lab.data import splits
from fwtk_lab.data.store import Store


class BatchIndexed(Dataset):
    """`ds[indices]` returns a whole batch (uint8 images (B, 1, H, W), int64 labels) in one indexing call."""

    def __init__(self, store: Store, rows: np.ndarray):
        self.store = store
        self.rows = rows
        self.images, self.labels = np.asarray(store.images), np.asarray(store.labels)  # plain views: quicker to index

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, batch: list[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.sort(self.rows[np.asarray(batch)])  # sorted: sequential reads from the memory map
        images = torch.from_numpy(self.images.take(rows, axis=0))[:, None]
        labels = torch.from_numpy(self.labels.take(rows))
        return images, labels


class BatchRows(Dataset):
    """`ds[indices]` returns a batch's sorted row numbers (int64): data.resident=true gathers the images on the device."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, batch: list[int] | np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.sort(self.rows[np.asarray(batch)]))


class EpochBatchSampler(Sampler):
    """Batches of positions; shuffled by a permutation that depends only on (seed, epoch), sharded by rank.

    Its whole state is (seed, epoch, rank, world size): no global RNG is touched, so a run can
    resume mid-epoch by recomputing the same permutation.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size
        self.epoch = 0
        self.skip: tuple[int, int] | None = None  # (epoch, batches): resume inside that epoch

    def resume(self, epoch: int, batches: int) -> None:
        """The next pass over `epoch` starts after its first `batches` batches (they were trained on)."""
        self.skip = (epoch, batches)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def per_rank(self) -> int:
        """Positions each rank gets: the order is padded (from its start) so every rank has as many."""
        return -(-self.n // self.world_size)

    def __iter__(self):
        order = self.order()
        pad = self.per_rank() * self.world_size - self.n
        if pad and self.shuffle:  # training: equal shards (DDP steps together); evaluation: every sample once
            order = np.concatenate([order, np.resize(order, pad)])
        mine = order[self.rank :: self.world_size]
        stop = len(mine) - len(mine) % self.batch_size if self.drop_last else len(mine)
        first = 0
        if self.skip is not None and self.skip[0] == self.epoch:
            first = self.skip[1] * self.batch_size
        self.skip = None
        for start in range(first, stop, self.batch_size):
            yield mine[start : start + self.batch_size]

    def __len__(self) -> int:
        mine = self.per_rank() if self.shuffle else len(range(self.rank, self.n, self.world_size))
        return mine // self.batch_size if self.drop_last else -(-mine // self.batch_size)


class ResumableLoader(DataLoader):
    """A DataLoader that Lightning checkpoints: its state is (epoch, batches trained on in that epoch).

    The count comes from the trainer's own progress (`done`), not from batches fetched, which run one
    ahead of training because Lightning prefetches.
    """

    def __init__(self, *args, done: Callable[[], int], **kwargs):
        super().__init__(*args, **kwargs)
        self.done = done

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self.sampler.epoch), "batches": int(self.done())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume(int(state["epoch"]), int(state["batches"]))


class FontDataModule(pl.LightningDataModule):
    def __init__(self, dataset: DatasetConfig, data: DataConfig, data_dir: str | Path, seed: int = 0):
        super().__init__()
        self.dataset_cfg, self.data_cfg, self.data_dir, self.seed = dataset, data, Path(data_dir), seed
        self.store: Store | None = None
        self.rows: dict[str, np.ndarray] = {}
        self._on_device: tuple[torch.Tensor, torch.Tensor] | None = None  # (images, labels) where training runs

    @property
    def data_cfg(self) -> DataConfig:
        return self._data_cfg

    @data_cfg.setter
    def data_cfg(self, data: DataConfig) -> None:
        """The `data` settings; the two read at every batch are kept as plain values (a config lookup: ~10 us)."""
        self._data_cfg = data
        self.pixel_scale = float(data.get("pixel_scale", 255.0))
        self.resident = bool(data.get("resident", False))

    def prepare_data(self) -> None:
        """Build the cache once (rank 0); other ranks open it in setup."""
        if self.store is None:  # fwtk_lab.train opened it already (setup)
            dataset_lib.prepare(self.dataset_cfg, self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.store is not None:
            return
        self.store = dataset_lib.prepare(self.dataset_cfg, self.data_dir)
        codes = splits.assign(self.store.num_phrases, dict(self.dataset_cfg.split), self.dataset_cfg.split.seed)
        self.rows = splits.indices(self.store.phrase_ids, codes)

    @property
    def classes(self) -> list[str]:
        assert self.store is not None, "call setup() first"
        return self.store.classes

    @property
    def image_shape(self) -> tuple[int, int]:
        assert self.store is not None, "call setup() first"
        return tuple(self.store.images.shape[1:])

    def loader(self, split: str, shuffle: bool) -> DataLoader:
        assert self.store is not None, "call setup() first"
        rows = self.rows[split]
        if len(rows) == 0:
            raise ValueError(
                f"the {split} split is empty (dataset.split.{split}={self.dataset_cfg.split[split]}, "
                f"{self.store.num_phrases} phrases); raise dataset.split.{split} or dataset.max_phrases"
            )
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        seed = self.data_cfg.shuffle_seed if self.data_cfg.shuffle_seed is not None else self.seed
        bs = self.data_cfg.batch_size if shuffle else self.data_cfg.eval_batch_size
        sampler = EpochBatchSampler(len(rows), bs, shuffle, seed, self.data_cfg.drop_last and shuffle, rank, world)
        pin = bool(
            trainer is not None
            and trainer.accelerator is not None
            and not isinstance(trainer.accelerator, pl.accelerators.CPUAccelerator)
        )
        kwargs = dict(
            batch_size=None,
            sampler=sampler,
            num_workers=self.data_cfg.num_workers,
            pin_memory=pin,
            persistent_workers=self.data_cfg.num_workers > 0,
            generator=torch.Generator().manual_seed(seed),
        )  # never draws from the global RNG
        batches = BatchRows(rows) if self.resident else BatchIndexed(self.store, rows)
        if shuffle:
            return ResumableLoader(batches, done=self.batches_done, **kwargs)
        return DataLoader(batches, **kwargs)

    def batches_done(self) -> int:
        """Training batches completed in the current epoch (Lightning's progress counter)."""
        trainer = self.trainer
        return 0 if trainer is None else int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """uint8 travels to the device (or only row numbers, data.resident=true); it becomes float there, divided by
        data.pixel_scale (255: [0, 1])."""
        if isinstance(batch, torch.Tensor):  # resident: the rows of a batch
            images, labels = self.on_device(batch.device)
            images, labels = images[batch], labels[batch]
        else:
            images, labels = batch
        return images.to(torch.float32).div_(self.pixel_scale), labels

    def on_device(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole dataset's images (N, 1, H, W) uint8 and labels on `device`, copied there once."""
        if self._on_device is None or self._on_device[0].device != device:
            assert self.store is not None, "call setup() first"
            images = torch.from_numpy(np.array(self.store.images))[:, None]  # into memory: the memory map is read-only
            labels = torch.from_numpy(np.array(self.store.labels))
            self._on_device = (images.to(device), labels.to(device))
        return self._on_device

    def train_dataloader(self) -> DataLoader:
        if not self.resident and self.store is not None:
            self.store.map_pages()  # a first epoch's rows without a page fault each
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False)
