"""Fonts, one class each: names of the embedded set (matplotlib's text faces) or paths/globs of font files."""

from __future__ import annotations

import functools
import glob
import hashlib
import importlib.metadata
import importlib.util
import logging
import string
from dataclasses import dataclass
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, ImageFont

from fwtk_lab.core import memo
from fwtk_lab.core.errors import UserError

# The text faces that matplotlib ships (all draw printable ASCII); the file stem is the name.
EMBEDDED = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSans-BoldOblique",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSerif-BoldItalic",
    "DejaVuSansMono",
    "DejaVuSansMono-Bold",
    "DejaVuSansMono-Oblique",
    "DejaVuSansMono-BoldOblique",
    "STIXGeneral",
    "STIXGeneralBol",
    "STIXGeneralItalic",
    "STIXGeneralBolIta",
    "cmr10",
    "cmb10",
    "cmss10",
    "cmti10",
    "cmtt10",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".pfb", ".pfa", ".woff", ".woff2")
PROBE_TEXT = "".join(chr(c) for c in range(33, 127))  # every printable ASCII glyph but space
REGULAR_STYLES = {"regular", "book", "roman", "normal", "medium", ""}
SFNT_MAGIC = (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf")  # TrueType / OpenType / collection files
ALNUM = string.ascii_letters + string.digits
GLYPH_VARIANTS = ("oldstyle", "small", "alt")  # name suffixes of variant forms of the same character
MAX_FOREIGN_GLYPHS = 4  # letters/digits a text face may map to other glyphs (none of the embedded faces does)


class FontError(UserError, ValueError):
    """A font that cannot be used, with its path named."""


@dataclass(frozen=True)
class Font:
    name: str  # class name, from the font's own family and style
    path: str
    sha256: str


def embedded_dir() -> Path:
    """matplotlib's font folder (its `get_data_path()`), found without importing matplotlib (0.1 s)."""
    return Path(importlib.util.find_spec("matplotlib").origin).with_name("mpl-data") / "fonts" / "ttf"


def load(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A FreeType font with the basic layout engine (same pixels whether or not libraqm is installed)."""
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def resolve_paths(specs: list[str]) -> list[str]:
    """Embedded names, file paths and globs -> font file paths, in the order given."""
    if not specs:
        raise FontError(f"dataset.fonts is empty; give embedded names ({', '.join(EMBEDDED)}) or font file paths/globs")
    paths: list[str] = []
    for spec in specs:
        spec = str(spec)
        if spec in EMBEDDED:
            paths.append(str(embedded_dir() / f"{spec}.ttf"))
        elif any(ch in spec for ch in "*?["):
            found = sorted(p for p in glob.glob(str(Path(spec).expanduser())) if p.lower().endswith(FONT_SUFFIXES))
            if not found:
                raise FontError(f"font glob {spec!r} matches no font file ({', '.join(FONT_SUFFIXES)})")
            paths += found
        elif Path(spec).expanduser().is_file():
            paths.append(str(Path(spec).expanduser().resolve()))
        else:
            raise FontError(
                f"font {spec!r} is neither an embedded font nor an existing file; "
                f"embedded fonts: {', '.join(EMBEDDED)}; or give a path or glob of TTF/OTF/Type 1 files"
            )
    return paths


def glyph_bitmaps(font: ImageFont.FreeTypeFont, chars: str) -> dict[str, bytes]:
    """Each character drawn alone on a fixed canvas, as raw bytes (equal bytes = same glyph)."""
    out = {}
    for ch in chars:
        img = Image.new("L", (font.size * 3, font.size * 2))
        ImageDraw.Draw(img).text((font.size // 2, 0), ch, fill=255, font=font)
        out[ch] = img.tobytes()
    return out


def check_draws(path: str, font: ImageFont.FreeTypeFont, chars: str = PROBE_TEXT) -> None:
    """Reject a font that renders the probe empty or draws missing-glyph boxes for some of it."""
    img = Image.new("L", (int(font.getlength(chars)) + 8, font.size * 2))
    ImageDraw.Draw(img).text((4, 0), chars, fill=255, font=font)
    if img.getbbox() is None:
        raise FontError(f"font {path!r} renders the probe text empty")
    glyphs = glyph_bitmaps(font, chars)
    notdef = glyph_bitmaps(font, "\U0010fffd")["\U0010fffd"]  # a code point no text font maps
    empty = [ch for ch, g in glyphs.items() if not any(g)]
    boxed = [ch for ch, g in glyphs.items() if g == notdef and any(notdef)]
    by_bitmap: dict[bytes, list[str]] = {}
    for ch, g in glyphs.items():
        by_bitmap.setdefault(g, []).append(ch)
    boxed += [ch for same in by_bitmap.values() if len(same) >= 4 for ch in same]  # one box drawn for many
    bad = sorted(set(empty) | set(boxed))
    if bad:
        raise FontError(
            f"font {path!r} cannot draw {''.join(bad)!r} (missing glyphs); "
            f"a font must draw every printable ASCII character"
        )


def check_parse(path: str, data: bytes) -> None:
    """Parse every table of a TrueType/OpenType file (a truncated or damaged file fails here) and
    reject a face whose letters and digits are mapped to glyphs of other characters (symbol fonts)."""
    if not data.startswith(SFNT_MAGIC):
        return  # Type 1, WOFF: FreeType's own load and the drawing checks decide
    import io

    from fontTools import agl
    from fontTools.ttLib import TTFont

    quiet = logging.getLogger("fontTools")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # e.g. "'created' timestamp seems very low" for the TeX faces
    try:
        ft = TTFont(io.BytesIO(data), fontNumber=0, lazy=False)
        for tag in ft.keys():
            ft[tag]
        cmap = ft.getBestCmap() or {}
        family = ft["name"].getDebugName(1) if "name" in ft else None
    except Exception as e:  # fontTools raises many types for damaged data
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise FontError(f"font {path!r} is damaged or truncated ({reason}); give an intact font file") from None
    finally:
        quiet.setLevel(level)
    if not (family or "").strip():
        raise FontError(f"font {path!r} has no family name in its name table (damaged); give an intact font file")
    names = {ch: cmap[ord(ch)] for ch in ALNUM if ord(ch) in cmap}
    meant = {ch: agl.toUnicode(_base_glyph_name(g)) for ch, g in names.items()}
    if not any(meant.values()):
        return  # glyph names carry no meaning (e.g. a subset font): nothing to judge by
    foreign = [ch for ch, u in meant.items() if u != ch]
    if len(foreign) > MAX_FOREIGN_GLYPHS:
        shown = ", ".join(f"{ch}->{names[ch]}" for ch in foreign[:6])
        raise FontError(
            f"font {path!r} is a symbol font: its letters and digits draw other glyphs ({shown}, "
            f"{len(foreign)} of {len(names)}); a font must draw ASCII as text"
        )


def _base_glyph_name(name: str) -> str:
    base = name.split(".")[0]
    for suffix in GLYPH_VARIANTS:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def class_name(font: ImageFont.FreeTypeFont) -> str:
    family, style = font.getname()
    family, style = (family or "").strip(), (style or "").strip()
    return family if style.lower() in REGULAR_STYLES else f"{family} {style}"


_CHECKED: dict[str, str] = {}  # sha256 of a font file that passed every check -> its class name


def check(path: str, data: bytes, ft: ImageFont.FreeTypeFont) -> str:
    """Every check of a font file (its tables, its drawing); its class name, or a FontError naming the path."""
    check_parse(path, data)
    try:
        check_draws(path, ft)
        name = class_name(ft)
    except (OSError, ValueError, UnicodeError) as e:
        if isinstance(e, FontError):
            raise
        raise FontError(f"font {path!r} cannot be drawn ({type(e).__name__}: {e}); give an intact font file") from None
    if not name.strip():
        raise FontError(f"font {path!r} has no family name (a damaged name table); give an intact font file")
    return name


@functools.cache
def _checks_version() -> str:
    """What the checks' verdict depends on besides the font's bytes: this module and the libraries it uses."""
    return memo.key(Path(__file__).read_bytes(), PIL.__version__, importlib.metadata.version("fonttools"))


def _memo_key(digest: str) -> str:
    return memo.key(digest, _checks_version())


def resolve(specs: list[str]) -> list[Font]:
    """Load, check and name every font; an unusable or duplicated font is an error naming its path."""
    fonts: list[Font] = []
    by_hash: dict[str, str] = {}
    for path in resolve_paths(list(specs)):
        try:
            data = Path(path).read_bytes()
            ft = load(path, 16)
        except OSError as e:
            raise FontError(
                f"font {path!r} does not load ({e}); give a TrueType, OpenType or Type 1 file FreeType reads"
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest in by_hash:
            raise FontError(
                f"font {path!r} has the same bytes as {by_hash[digest]!r}; each class needs a distinct font"
            )
        by_hash[digest] = path
        if digest not in _CHECKED:  # the checks depend only on the bytes: once per process, then from the memo
            name = memo.get("font", _memo_key(digest))
            if not name:
                name = check(path, data, ft)
                memo.put("font", _memo_key(digest), name)
            _CHECKED[digest] = name
        name = _CHECKED[digest]
        fonts.append(Font(name=name, path=path, sha256=digest))
    names = [f.name for f in fonts]
    for i, f in enumerate(fonts):  # distinct files with the same family/style name: keep them apart
        if names.count(f.name) > 1:
            fonts[i] = Font(name=f"{f.name} ({Path(f.path).stem})", path=f.path, sha256=f.sha256)
    return fonts
