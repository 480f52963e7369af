"""A dataset cache on disk: opened when intact, built atomically when absent, moved aside and rebuilt when broken."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from fwtk_lab.core.checks import why_not_writable
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import DiskFullError, disk_full
from fwtk_lab.data import store

log = logging.getLogger("fwtk_lab.data.dataset")


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def cached(root: Path, build, checksums: bool, expect: dict | None = None, rehash: bool = False) -> store.Store:
    """Open a verified cache at root; build it (atomically) if absent; move aside and rebuild if broken.

    `expect`: manifest fields the cache must have (key, classes, num_phrases), so that a manifest
    edited to other values is not used. rehash: hash every file even when its stamp says it is unchanged
    since it was last verified.
    """
    if root.exists():
        try:
            opened = store.open_store(root, checksums, rehash)
            for field, value in (expect or {}).items():
                if opened.manifest.get(field) != value:
                    raise store.CacheError(
                        f"{root / store.MANIFEST}: {field} is {opened.manifest.get(field)!r}, "
                        f"this config gives {value!r}"
                    )
            return opened
        except store.CacheError as e:
            moved = store.quarantine(root)
            log.warning("dataset cache is broken (%s); moved it to %s and rebuilding", e, moved)
    check_writable(root.parent, root.name)
    t0 = time.perf_counter()
    try:
        with store.staging(root) as tmp:
            meta = build(tmp)
            meta["build_seconds"] = round(time.perf_counter() - t0, 2)
            store.write_manifest(tmp, meta)
    except OSError as e:
        if not disk_full(e):
            raise
        raise DiskFullError(
            f"no space left on the device while building the dataset {root.name} in {root.parent}; "
            f"the partial build was removed and the caches already there were kept; "
            f"free some space or set paths.data_dir to a disk with room"
        ) from None
    built = store.open_store(root, checksums=False)
    built.built = True
    return built


def check_writable(data_dir: Path, name: str) -> None:
    """A cache can be built under data_dir: it is (or can be made) a writable directory."""
    why = why_not_writable(data_dir)
    if why is not None:
        held = f"holds no cache {name}" if data_dir.is_dir() else "cannot hold the cache"
        raise ConfigError(
            f"paths.data_dir={str(data_dir)!r} {why} and {held}; give a writable paths.data_dir "
            f"(a read-only one works once it holds the cache)"
        )
