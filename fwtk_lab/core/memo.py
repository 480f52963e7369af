"""Results of slow start-up work that depend only on file contents (a font's checks, a corpus's phrases), kept
between processes as small files under `<paths.data_dir>/.memo/`.

Each file is named by a hash of everything its result depends on: the input bytes, the source of the module
that computes it and the versions of the libraries it uses; so a changed font, corpus or check is simply a
miss. A warm `python -m fwtk_lab.train` reads them instead of parsing every table of every font and all the
plays again (about 1 s before the first step on 2 cores). `use(data_dir)` says where (preflight and
dataset.prepare call it); without it, or in a missing or read-only data dir, nothing is kept and everything
is computed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fwtk_lab.core.errors import UserError
from fwtk_lab.core.files import atomic_write_text

FOLDER = ".memo"
_dir: Path | None = None  # where this process keeps its results (None: nowhere)


def use(data_dir: str | Path | None) -> None:
    """Keep results under `<data_dir>/.memo/` from now on in this process (None: keep nothing)."""
    global _dir
    _dir = None if data_dir is None else Path(data_dir).expanduser() / FOLDER


def key(*parts: bytes | str) -> str:
    """A hash of the parts (each length-prefixed, so that no two lists of parts give the same bytes)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def get(kind: str, digest: str) -> str | None:
    """The text kept for (kind, digest), or None."""
    if _dir is None:
        return None
    try:
        return (_dir / f"{kind}-{digest}.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def put(kind: str, digest: str, text: str) -> None:
    """Keep text for (kind, digest), written atomically, in a data dir that exists and takes it (no data dir
    is made for it: a first run keeps its results once the dataset is built)."""
    if _dir is None or not _dir.parent.is_dir():
        return
    try:
        atomic_write_text(_dir / f"{kind}-{digest}.txt", text)
    except (OSError, UserError):
        pass
