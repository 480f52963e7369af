"""The on-disk dataset cache: memory-mapped .npy arrays plus a JSON manifest with sizes and checksums.

A cache directory is built under a temporary name and renamed into place only once every array
and the manifest are written, so a killed build never leaves a directory that looks finished.
A directory whose files do not match their manifest is moved aside (never deleted) and rebuilt.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from fwtk_lab.core.files import atomic_write_json, sha256_file
from fwtk_lab.data import stamp

FORMAT = 1
ARRAYS = ("images", "labels", "phrase_ids")
MANIFEST = "manifest.json"


class CacheError(RuntimeError):
    """A cache directory that is incomplete, truncated or does not match its manifest."""


@dataclass
class Store:
    """A verified cache: images (N, H, W) uint8, labels (N,) and phrase_ids (N,), all memory-mapped."""
    root: Path
    images: np.ndarray
    labels: np.ndarray
    phrase_ids: np.ndarray
    manifest: dict

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def num_phrases(self) -> int:
        return int(self.manifest["num_phrases"])

    def phrases(self) -> list[str]:
        path = self.root / "phrases.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def describe(root: Path) -> dict:
    """Sizes and checksums of the files that a manifest vouches for."""
    files = {}
    for p in sorted(root.iterdir()):
        if p.name != MANIFEST and p.is_file():
            files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    return files


def write_manifest(root: Path, meta: dict) -> dict:
    """The manifest goes last: its presence (after the rename) means the directory is complete."""
    manifest = {"format": FORMAT, **meta, "files": describe(root)}
    for name in ARRAYS:
        arr = np.load(root / f"{name}.npy", mmap_mode="r")
        manifest.setdefault("shapes", {})[name] = list(arr.shape)
        manifest.setdefault("dtypes", {})[name] = str(arr.dtype)
    atomic_write_json(root / MANIFEST, manifest)
    stamp.write(root, [*manifest["files"], MANIFEST])  # just hashed: verified
    return manifest


def verify(root: Path, checksums: bool = True, rehash: bool = False) -> dict:
    """Return the manifest of a complete, intact cache directory, or raise CacheError saying what is wrong.

    checksums: compare each file's sha256 with the manifest, unless the files are unchanged since they last
    matched (their stamp, see fwtk_lab.data.stamp) and rehash is false.
    """
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise CacheError(f"{root}: no {MANIFEST} (an incomplete build)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
        shapes = manifest["shapes"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CacheError(f"{mpath}: unreadable manifest ({e})") from None
    if manifest.get("format") != FORMAT:
        raise CacheError(f"{mpath}: format {manifest.get('format')!r}, this version reads {FORMAT}")
    stamped = checksums and not rehash and stamp.matches(root, [*files, MANIFEST])
    for name, info in files.items():
        p = root / name
        if not p.is_file():
            raise CacheError(f"{p}: missing")
        if p.stat().st_size != info["bytes"]:
            raise CacheError(f"{p}: {p.stat().st_size} bytes, the manifest says {info['bytes']} (truncated or changed)")
        if checksums and not stamped and sha256_file(p) != info["sha256"]:
            raise CacheError(f"{p}: checksum does not match the manifest (corrupted)")
    for name in ARRAYS:
        try:
            arr = np.load(root / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError) as e:
            raise CacheError(f"{root / name}.npy: not a readable array ({e})") from None
        if list(arr.shape) != shapes.get(name):
            raise CacheError(f"{root / name}.npy: shape {list(arr.shape)}, the manifest says {shapes.get(name)}")
    if checksums and not stamped:
        stamp.write(root, [*files, MANIFEST])
    return manifest


def open_store(root: Path, checksums: bool = True, rehash: bool = False) -> Store:
    manifest = verify(root, checksums, rehash)
    arrays = {name: np.load(root / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    return Store(root=root, manifest=manifest, **arrays)


def quarantine(root: Path) -> Path:
    """Move a broken cache aside (kept for inspection, never used again)."""
    dest = root.with_name(f"{root.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}")
    os.replace(root, dest)
    return dest


def remove_orphans(final: Path) -> None:
    """Delete temporary build directories of `final` left by processes that no longer run (killed builds)."""
    for tmp in final.parent.glob(f".tmp-{final.name}-*"):
        try:
            pid = int(tmp.name[len(f".tmp-{final.name}-"):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


@contextmanager
def staging(final: Path) -> Iterator[Path]:
    """A fresh temporary directory beside `final`, renamed to `final` if the block succeeds, removed if not."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(final)
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():  # another process finished the same build first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
