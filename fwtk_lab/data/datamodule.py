"""LightningDataModule: whole batches indexed from the memory-mapped uint8 array, scaled on the device."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fwtk_lab.data import dataset as dataset_lib
from fwtk_lab.data import splits
from fwtk_lab.core.config import DataConfig, DatasetConfig
from fwtk_lab.data.store import Store


class BatchIndexed(Dataset):
    """`ds[indices]` returns a whole batch (uint8 images (B, 1, H, W), int64 labels) in one indexing call."""

    def __init__(self, store: Store, rows: np.ndarray):
        self.store = store
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, batch: list[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.sort(self.rows[np.asarray(batch)])  # sorted: sequential reads from the memory map
        images = torch.from_numpy(np.ascontiguousarray(self.store.images[rows]))[:, None]
        labels = torch.from_numpy(np.ascontiguousarray(self.store.labels[rows]))
        return images, labels


class EpochBatchSampler(Sampler):
    """Batches of positions; shuffled by a permutation that depends only on (seed, epoch), sharded by rank.

    Its whole state is (seed, epoch, rank, world size): no global RNG is touched, so a run can
    resume mid-epoch by recomputing the same permutation.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size
        self.epoch = 0

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
        if pad:
            order = np.concatenate([order, np.resize(order, pad)])
        mine = order[self.rank::self.world_size]
        stop = len(mine) - len(mine) % self.batch_size if self.drop_last else len(mine)
        for start in range(0, stop, self.batch_size):
            yield mine[start:start + self.batch_size]

    def __len__(self) -> int:
        mine = self.per_rank()
        return mine // self.batch_size if self.drop_last else -(-mine // self.batch_size)


class FontDataModule(pl.LightningDataModule):
    def __init__(self, dataset: DatasetConfig, data: DataConfig, data_dir: str | Path, seed: int = 0):
        super().__init__()
        self.dataset_cfg, self.data_cfg, self.data_dir, self.seed = dataset, data, Path(data_dir), seed
        self.store: Store | None = None
        self.rows: dict[str, np.ndarray] = {}

    def prepare_data(self) -> None:
        """Build the cache once (rank 0); other ranks open it in setup."""
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
            raise ValueError(f"the {split} split is empty (dataset.split.{split}={self.dataset_cfg.split[split]}, "
                             f"{self.store.num_phrases} phrases); raise dataset.split.{split} or dataset.max_phrases")
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        seed = self.data_cfg.shuffle_seed if self.data_cfg.shuffle_seed is not None else self.seed
        bs = self.data_cfg.batch_size if shuffle else self.data_cfg.eval_batch_size
        sampler = EpochBatchSampler(len(rows), bs, shuffle, seed, self.data_cfg.drop_last and shuffle, rank, world)
        pin = bool(trainer is not None and trainer.accelerator is not None
                   and not isinstance(trainer.accelerator, pl.accelerators.CPUAccelerator))
        return DataLoader(
            BatchIndexed(self.store, rows), batch_size=None, sampler=sampler,
            num_workers=self.data_cfg.num_workers, pin_memory=pin,
            persistent_workers=self.data_cfg.num_workers > 0,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """uint8 travels to the device; it becomes float there, divided by data.pixel_scale (255: [0, 1])."""
        images, labels = batch
        return images.to(torch.float32).div_(float(self.data_cfg.get("pixel_scale", 255.0))), labels

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False)
