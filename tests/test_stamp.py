"""A verified cache is stamped: later opens skip the sha256 unless a file changed, or a re-hash is asked for."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import dataset_cfg

from fwtk_lab.data import dataset, stamp, store
from fwtk_lab.data.store import CacheError


@pytest.fixture
def cache(tiny_store, tmp_path):
    root = tmp_path / "data" / tiny_store.root.name
    shutil.copytree(tiny_store.root, root)
    (root / stamp.STAMP).unlink(missing_ok=True)
    return root


@pytest.fixture
def hashes(monkeypatch):
    """Names of the files sha256'd by store.verify."""
    seen: list[str] = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: seen.append(os.path.basename(p)) or real(p))
    return seen


def test_second_open_does_not_rehash(cache, hashes):
    store.verify(cache)
    first = len(hashes)
    assert first >= 3 and (cache / stamp.STAMP).is_file()
    store.verify(cache)
    assert len(hashes) == first  # stamped: no file hashed again
    store.verify(cache, rehash=True)
    assert len(hashes) == 2 * first  # on demand: every file again


def test_changed_file_is_rehashed_and_caught(cache, hashes):
    store.verify(cache)
    img = cache / "images.npy"
    raw = bytearray(img.read_bytes())
    raw[-100] ^= 0x01  # same size, same inode, a new mtime
    img.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="checksum"):
        store.verify(cache)


def test_touched_file_is_rehashed_then_stamped_again(cache, hashes):
    store.verify(cache)
    st = os.stat(cache / "labels.npy")
    os.utime(cache / "labels.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    n = len(hashes)
    store.verify(cache)
    assert len(hashes) > n  # the stamp no longer matched
    n = len(hashes)
    store.verify(cache)
    assert len(hashes) == n  # re-stamped


def test_fresh_build_is_stamped(tmp_path, hashes):
    s = dataset.prepare(dataset_cfg(max_phrases=20), tmp_path)
    assert stamp.matches(s.root, [*s.manifest["files"], store.MANIFEST])
    built = len(hashes)  # the manifest's checksums, computed once while building
    dataset.prepare(dataset_cfg(max_phrases=20), tmp_path)
    assert len(hashes) == built  # reopened without hashing again
