"""The on-disk cache: deterministic builds, killed or failed builds, corruption detected and moved aside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_cache, dataset_cfg
from omegaconf import OmegaConf

from fwtk_lab.data import dataset, render_jobs, store
from fwtk_lab.data.store import CacheError

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ 4. determinism


def test_build_is_independent_of_workers(tiny_store, tmp_path):
    two = dataset.prepare(dataset_cfg(build_workers=2), tmp_path)
    assert two.root.name == tiny_store.root.name
    assert two.manifest["key"] == tiny_store.manifest["key"]
    assert (two.root / "images.npy").read_bytes() == (tiny_store.root / "images.npy").read_bytes()
    assert (two.root / "labels.npy").read_bytes() == (tiny_store.root / "labels.npy").read_bytes()
    assert two.phrases() == tiny_store.phrases()


# ------------------------------------------------------------------------------- 6. killed / crashed builds


def test_build_failing_midway_leaves_nothing(tiny_store, tmp_path, monkeypatch):
    data = tmp_path / "data"
    real = render_jobs.render_all

    def half_then_fail(out_path, font_paths, recipe, phrases, seed, workers, other_paths=()):
        real(out_path, font_paths[:1], recipe, phrases, seed, workers)  # write some images, then die
        raise RuntimeError("killed mid-render")

    monkeypatch.setattr(render_jobs, "render_all", half_then_fail)
    with pytest.raises(RuntimeError, match="mid-render"):
        dataset.prepare(dataset_cfg(), data)
    assert not (data / tiny_store.root.name).exists()
    assert list(data.iterdir()) == []  # the staging directory was removed
    monkeypatch.undo()
    s = dataset.prepare(dataset_cfg(), data)
    assert s.root == data / tiny_store.root.name
    assert np.array_equal(np.asarray(s.images), np.asarray(tiny_store.images))


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from omegaconf import OmegaConf
    from fwtk_lab.data import dataset, render_jobs
    from fwtk_lab.core.config import DatasetConfig
    cfg = OmegaConf.merge(OmegaConf.structured(DatasetConfig), OmegaConf.load(sys.argv[1]))
    real = render_jobs._render_chunk
    def chunk(args):
        real(args)                          # one font's images are on disk ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies
    render_jobs._render_chunk = chunk
    dataset.prepare(cfg, Path(sys.argv[2]))
""")


def test_build_killed_midway_is_not_used(tiny_store, tmp_path):
    data = tmp_path / "data"
    cfg_file = tmp_path / "ds.yaml"
    OmegaConf.save(dataset_cfg(), cfg_file)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(cfg_file), str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    final = data / tiny_store.root.name
    assert not final.exists()
    leftovers = list(data.iterdir())
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    for p in leftovers:  # a half-written build: no manifest, so never taken for a cache
        assert (p / "images.npy").exists() and not (p / store.MANIFEST).exists()
        with pytest.raises(CacheError, match="manifest"):
            store.verify(p)
    s = dataset.prepare(dataset_cfg(), data)
    assert s.root == final and (final / store.MANIFEST).is_file()
    assert [p.name for p in data.iterdir()] == [final.name]  # the dead build's directory was cleaned up
    assert np.array_equal(np.asarray(s.images), np.asarray(tiny_store.images))
    store.verify(final)


def test_directory_without_manifest_is_moved_aside(tiny_store, tmp_path):
    data, root = copy_cache(tiny_store, tmp_path)
    (root / store.MANIFEST).unlink()  # what a crashed older version could leave at the final path
    with pytest.raises(CacheError, match="manifest"):
        store.verify(root)
    s = dataset.prepare(dataset_cfg(), data)
    assert s.root == root and (root / store.MANIFEST).is_file()
    aside = [p for p in data.iterdir() if p.name.startswith(f"{root.name}.corrupt-")]
    assert len(aside) == 1 and (aside[0] / "images.npy").is_file()
    assert np.array_equal(np.asarray(s.images), np.asarray(tiny_store.images))


# -------------------------------------------------------------------------------------------- 7. corruption


def test_flipped_byte_is_detected_and_rebuilt(tiny_store, tmp_path):
    data, root = copy_cache(tiny_store, tmp_path)
    img = root / "images.npy"
    raw = bytearray(img.read_bytes())
    pos = len(raw) - 1000
    raw[pos] ^= 0x01
    img.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="checksum"):
        store.verify(root)
    store.verify(root, checksums=False)  # same size and shape: only the checksum sees it
    s = dataset.prepare(dataset_cfg(), data)
    assert s.root == root
    aside = [p for p in data.iterdir() if p.name.startswith(f"{root.name}.corrupt-")]
    assert len(aside) == 1
    assert (aside[0] / "images.npy").read_bytes() == bytes(raw)  # kept, not deleted
    assert (root / "images.npy").read_bytes() == (tiny_store.root / "images.npy").read_bytes()
    store.verify(root)


def test_truncated_array_is_detected(tiny_store, tmp_path):
    data, root = copy_cache(tiny_store, tmp_path)
    lab = root / "labels.npy"
    size = lab.stat().st_size
    with open(lab, "r+b") as f:
        f.truncate(size - 8)
    with pytest.raises(CacheError) as e:
        store.verify(root, checksums=False)
    assert "truncated" in str(e.value) and "bytes" in str(e.value) and "labels.npy" in str(e.value)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"format": 1}'])
def test_bad_manifest_is_detected(tiny_store, tmp_path, text):
    data, root = copy_cache(tiny_store, tmp_path)
    (root / store.MANIFEST).write_text(text)
    with pytest.raises(CacheError, match="manifest"):
        store.verify(root)
