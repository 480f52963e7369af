"""Atomic file writes and checksums: nothing half-written is ever read back."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fwtk_lab.core.errors import ConfigError


class DiskFullError(ConfigError):
    """No space left on a device: says what was kept and where room is needed."""


def disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def require_free(directory: str | Path, needed: int, what: str, key: str) -> None:
    """Raise DiskFullError before writing `needed` bytes into `directory` (or its nearest existing parent)."""
    d = nearest_existing(directory)
    free = shutil.disk_usage(d).free
    if free < needed:
        raise DiskFullError(
            f"{what} needs {needed / 2**20:,.1f} MiB but {d} has {free / 2**20:,.1f} MiB free; "
            f"nothing was written; free some space or set {key} to a disk with room"
        )


def nearest_existing(path: str | Path) -> Path:
    """`path` itself if it exists, else its nearest existing parent (what creating it would write into)."""
    d = Path(path)
    while not d.exists() and d != d.parent:
        d = d.parent
    return d


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        if disk_full(e):
            raise _full(path) from None
        raise
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if disk_full(e):
            raise _full(path) from None
        raise


def _full(path: Path) -> DiskFullError:
    kept = f"the previous {path.name} was kept as it was" if path.exists() else f"{path.name} was not written"
    return DiskFullError(
        f"no space left on the device writing {path}; {kept} (no partial file is left); free some space and rerun"
    )


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def allocate(path: Path) -> None:
    """Reserve the memory-mapped file's blocks now: a full disk is ENOSPC here, not SIGBUS in a worker."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if disk_full(e):
            raise
        # filesystems without fallocate (EOPNOTSUPP): the free-space check above stands in
    finally:
        os.close(fd)


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
