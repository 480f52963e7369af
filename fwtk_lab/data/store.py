"""The on-disk dataset cache: memory-mapped .npy arrays plus a JSON manifest with sizes and checksums.

A cache directory is built under a temporary name and renamed into place only once every array
and the manifest are written, so a killed build never leaves a directory that looks finished.
A directory whose files do not match their manifest is moved aside (never deleted) and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from fwtk_lab.core.errors import UserError
from fwtk_lab.core.files import atomic_write_json, sha256_file
from fwtk_lab.data import stamp

FORMAT = 2  # 2: the manifest carries its own checksum and its fields are checked against the arrays
ARRAYS = ("images", "labels", "phrase_ids")
MANIFEST = "manifest.json"


class CacheError(UserError, RuntimeError):
    """A cache directory that is incomplete, truncated or does not match its manifest."""


@dataclass
class Store:
    """A verified cache: images (N, H, W) uint8, labels (N,) and phrase_ids (N,), all memory-mapped."""

    root: Path
    images: np.ndarray
    labels: np.ndarray
    phrase_ids: np.ndarray
    manifest: dict
    built: bool = False  # True when this call built the cache, False when it only opened it

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def num_phrases(self) -> int:
        return int(self.manifest["num_phrases"])

    def map_pages(self) -> bool:
        """Map every page of the images into this process (one read per 4 KiB page: ~40 ms for 442 MB in the page
        cache), so that a first epoch's random rows do not each take a page fault (~1 us a row, 0.2 ms a batch of
        128). Skipped (False) for an array larger than a quarter of this machine's memory."""
        flat = np.asarray(self.images).reshape(-1)
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):  # no sysconf (Windows): left to the page faults
            return False
        if flat.nbytes > memory // 4:
            return False
        int(flat[:: mmap.PAGESIZE].sum(dtype=np.int64))  # the read is what maps each page
        return True

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
    manifest["manifest_sha256"] = manifest_digest(manifest)
    atomic_write_json(root / MANIFEST, manifest)
    stamp.write(root, [*manifest["files"], MANIFEST])  # just hashed: verified
    return manifest


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's own fields (all but this checksum), canonical JSON."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_fields(root: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    """The manifest's counts and names against the arrays (and phrases.json): raise CacheError on a mismatch."""
    classes, num_phrases = manifest.get("classes"), manifest.get("num_phrases")
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c.strip() for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise CacheError(f"{root / MANIFEST}: classes {classes!r} are not distinct non-empty names")
    if not isinstance(num_phrases, int) or isinstance(num_phrases, bool) or num_phrases < 1:
        raise CacheError(f"{root / MANIFEST}: num_phrases {num_phrases!r} is not a positive count")
    n = len(arrays["images"])
    if n != len(classes) * num_phrases or len(arrays["labels"]) != n or len(arrays["phrase_ids"]) != n:
        raise CacheError(
            f"{root}: {n} images, {len(arrays['labels'])} labels, {len(arrays['phrase_ids'])} phrase ids, "
            f"but the manifest says {len(classes)} classes x {num_phrases} phrases"
        )
    for name, top in (("labels", len(classes)), ("phrase_ids", num_phrases)):
        a = np.asarray(arrays[name])
        if len(a) and (int(a.min()) < 0 or int(a.max()) >= top):
            raise CacheError(
                f"{root / name}.npy: values {int(a.min())}..{int(a.max())} outside 0..{top - 1} "
                f"(the manifest's {'classes' if name == 'labels' else 'num_phrases'})"
            )
    fonts = manifest.get("fonts")
    if manifest.get("kind") == "render" and not isinstance(fonts, list):
        raise CacheError(f"{root / MANIFEST}: a rendered dataset without its list of fonts")
    named = classes[:-1] if manifest.get("other_fonts") else classes  # the `other` class is no font of its own
    if fonts is not None and (
        not isinstance(fonts, list) or [f.get("name") if isinstance(f, dict) else None for f in fonts] != named
    ):
        raise CacheError(f"{root / MANIFEST}: classes {classes} do not match the fonts it lists")
    path = root / "phrases.json"
    if path.is_file():
        try:
            count = len(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
            raise CacheError(f"{path}: unreadable ({e})") from None
        if count != num_phrases:
            raise CacheError(f"{path}: {count} phrases, the manifest says num_phrases {num_phrases}")


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
    if not isinstance(manifest, dict):
        raise CacheError(f"{mpath}: unreadable manifest (not a JSON object)")
    if manifest.get("format") != FORMAT:
        raise CacheError(f"{mpath}: format {manifest.get('format')!r}, this version reads {FORMAT}")
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise CacheError(f"{mpath}: its checksum does not match its fields (edited or damaged)")
    if not isinstance(files, dict) or not isinstance(shapes, dict) or {f"{a}.npy" for a in ARRAYS} - set(files):
        raise CacheError(f"{mpath}: does not list the arrays {', '.join(ARRAYS)}")
    stamped = checksums and not rehash and stamp.matches(root, [*files, MANIFEST])
    for name, info in files.items():
        p = root / name
        if not p.is_file():
            raise CacheError(f"{p}: missing")
        if p.stat().st_size != info["bytes"]:
            raise CacheError(f"{p}: {p.stat().st_size} bytes, the manifest says {info['bytes']} (truncated or changed)")
        if checksums and not stamped and sha256_file(p) != info["sha256"]:
            raise CacheError(f"{p}: checksum does not match the manifest (corrupted)")
    arrays = {}
    for name in ARRAYS:
        try:
            arr = np.load(root / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError) as e:
            raise CacheError(f"{root / name}.npy: not a readable array ({e})") from None
        if list(arr.shape) != shapes.get(name):
            raise CacheError(f"{root / name}.npy: shape {list(arr.shape)}, the manifest says {shapes.get(name)}")
        arrays[name] = arr
    check_fields(root, manifest, arrays)
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
    try:
        os.replace(root, dest)
    except OSError as e:
        raise CacheError(
            f"dataset cache {root} is broken and cannot be moved aside ({e.strerror}); "
            f"it was left as it is: remove it, or make paths.data_dir={root.parent} writable"
        ) from None
    return dest


def remove_orphans(final: Path) -> None:
    """Delete temporary build directories of `final` left by processes that no longer run (killed builds)."""
    for tmp in final.parent.glob(f".tmp-{final.name}-*"):
        try:
            pid = int(tmp.name[len(f".tmp-{final.name}-") :].split("-")[0])
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
