"""A verified cache's stamp: (size, mtime, inode) of each file when its sha256 last matched the manifest.

Opening a cache re-hashes its files only when a stamp is missing or any file's stat differs from it
(rewritten, replaced, truncated, touched), or when asked to (`python -m fwtk_lab.data` always re-hashes).
"""

from __future__ import annotations

import os
from pathlib import Path

from fwtk_lab.core.files import atomic_write_json

STAMP = ".verified.json"


def signature(root: Path, names: list[str]) -> dict[str, list[int]]:
    """(bytes, mtime_ns, inode) of each named file; a missing file has no entry."""
    out = {}
    for name in names:
        try:
            st = os.stat(root / name)
        except OSError:
            continue
        out[name] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return out


def matches(root: Path, names: list[str]) -> bool:
    """Whether the stamp vouches for exactly these files as they are now."""
    import json

    try:
        stamped = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    now = signature(root, names)
    return len(now) == len(names) and stamped == now


def write(root: Path, names: list[str]) -> None:
    """Stamp the files as verified; a read-only cache simply stays unstamped (re-hashed each time)."""
    try:
        atomic_write_json(root / STAMP, signature(root, names))
    except OSError:
        pass
