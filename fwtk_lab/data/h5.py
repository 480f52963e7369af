"""Import the original series' HDF5 layout: one (N, H, W) uint8 dataset per font, the label = its index."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fwtk_lab.core.config import DatasetConfig
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import require_free, sha256_file
from fwtk_lab.data import cache, store


def build_h5(cfg: DatasetConfig, data_dir: Path, rehash: bool = False) -> store.Store:
    """Import the original's layout: one dataset per font, (N, H, W) uint8, the label = the dataset's index."""
    try:
        import h5py
    except ImportError:
        raise ConfigError("dataset=h5 needs h5py: pip install 'fwtk_lab[h5]'") from None
    if not cfg.path:
        raise ConfigError("dataset=h5 needs dataset.path=FILE (an HDF5 file, one dataset per font)")
    path = Path(cfg.path).expanduser()
    if path.is_dir():
        raise ConfigError(f"dataset.path={str(path)!r} is a directory; give an HDF5 file (one dataset per font)")
    if not path.is_file():
        raise ConfigError(f"dataset.path={str(path)!r} does not exist; give an HDF5 file (one dataset per font)")
    key = cache.cache_key({"kind": "h5", "sha256": sha256_file(path), "flipud": cfg.flipud})
    root = data_dir / f"{cfg.name}-{key}"

    def build(tmp: Path) -> dict:
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise ConfigError(f"dataset.path={str(path)!r} is not a readable HDF5 file ({e})") from None
        with f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
            if len(names) < 2:
                found = f"only the dataset {names[0]!r}" if names else "no datasets"
                raise ConfigError(
                    f"dataset.path={str(path)!r} holds {found}; accepted: an HDF5 file with one (N, H, W) uint8 "
                    f"dataset per font, at least 2 fonts (one class each)"
                )
            shapes = {k: f[k].shape for k in names}
            for k in names:
                if f[k].dtype != np.uint8 or len(f[k].shape) != 3:
                    raise ConfigError(f"{path}: dataset {k!r} is {f[k].dtype} {f[k].shape}; expected (N, H, W) uint8")
            if len(set(shapes.values())) != 1:
                raise ConfigError(f"{path}: datasets differ in shape {shapes}; every font needs the same (N, H, W)")
            n, h, w = shapes[names[0]]
            if n == 0:
                raise ConfigError(f"{path}: datasets are empty")
            require_free(
                root.parent, n * len(names) * (h * w + 16) + 2**20, f"the dataset {root.name}", "paths.data_dir"
            )
            images = np.lib.format.open_memmap(
                tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n * len(names), h, w)
            )
            for label, k in enumerate(names):
                block = f[k][...]
                images[label * n : (label + 1) * n] = block[:, ::-1, :] if cfg.flipud else block
            images.flush()
            del images
        np.save(tmp / "labels.npy", np.repeat(np.arange(len(names), dtype=np.int64), n))
        np.save(tmp / "phrase_ids.npy", np.tile(np.arange(n, dtype=np.int64), len(names)))
        classes = [k[:-4] if k.lower().endswith((".ttf", ".otf")) else k for k in names]
        return {
            "kind": "h5",
            "name": cfg.name,
            "key": key,
            "source": str(path),
            "flipud": cfg.flipud,
            "classes": classes,
            "num_phrases": n,
            "recipe": {"width": w, "height": h},
        }

    return cache.cached(root, build, cfg.verify_checksums, rehash=rehash)
