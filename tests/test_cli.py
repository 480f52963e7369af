"""The data entry point and bad input at the command line: one `error:` line, exit 2, nothing lost."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY, TINY_FONTS, run_cli

DATA_ARGS = ["dataset.max_phrases=200", f"dataset.fonts=[{','.join(TINY_FONTS)}]", "dataset.build_workers=1"]


def test_data_cli_prints_counts_and_writes_sample_sheet(tmp_path, data_dir):
    proc = run_cli("fwtk_lab.data", *DATA_ARGS, f"paths.data_dir={data_dir}", f"paths.output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for name in ("DejaVu Sans", "DejaVu Serif", "cmr10", "train", "val", "test", "images/s", "MiB"):
        assert name in out, (name, out)
    assert "600" in out  # 3 fonts x 200 phrases
    sheets = list(Path(data_dir).glob("var_jitter-*/sample_sheet.png"))
    assert sheets and sheets[0].stat().st_size > 1000


def test_train_with_missing_checkpoint_fails_cleanly(tmp_path, data_dir):
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"ckpt_path={tmp_path / 'nope.ckpt'}",
        "trainer=debug",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: checkpoint")
    assert "nope.ckpt" in proc.stderr and "Traceback" not in proc.stderr


def test_train_with_corrupt_checkpoint_fails_cleanly(tmp_path, data_dir):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint at all")
    proc = run_cli(
        "fwtk_lab.train",
        *TINY,
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"ckpt_path={bad}",
        "trainer=debug",
    )
    assert proc.returncode == 2
    assert "bad.ckpt" in proc.stderr and "cannot be read" in proc.stderr and "Traceback" not in proc.stderr
    assert bad.read_bytes() == b"not a checkpoint at all"  # left as it was


def test_empty_corpus_file_fails_with_the_count(tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("short\n\n")
    proc = run_cli(
        "fwtk_lab.data",
        "dataset.corpus.source=file",
        f"dataset.corpus.path={corpus}",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.output_dir={tmp_path}",
    )
    assert proc.returncode == 2
    assert "yields 0 usable phrases" in proc.stderr and str(corpus) in proc.stderr
