"""Generic value checks for config keys: each failure is a ConfigError naming the key, the value and what is accepted."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import nearest_existing


def whole(value: Any, key: str, minimum: int, none_ok: bool = False) -> None:
    """`value` is an integer >= minimum (or None when none_ok)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        accepted = f"a whole number >= {minimum}" + (" or null" if none_ok else "")
        raise ConfigError(f"{key}={show(value)}; accepted: {accepted}")


def positive_number(value: Any, key: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or value != value
        or value == float("inf")
    ):
        raise ConfigError(f"{key}={show(value)}; accepted: a positive finite number (e.g. 0.001)")


def one_of(value: Any, key: str, accepted: tuple) -> None:
    if value not in accepted:
        raise ConfigError(f"{key}={show(value)}; accepted: {', '.join(map(str, accepted))}")


def show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return repr(value) if isinstance(value, str) else str(value)


def why_not_writable(path: Path) -> str | None:
    """Why no files can be written in the directory `path` (None: it is, or can be made, a writable directory).

    Tried for real (a temporary folder made and removed): permission bits say yes to root under /proc or /sys.
    """
    if path.exists():
        if not path.is_dir():
            return "is a file, not a directory"
        return None if _accepts_folders(path) else "is not writable"
    d = nearest_existing(path.parent)
    if not d.is_dir():
        return f"cannot be created: {d} is a file, not a directory"
    return None if _accepts_folders(d) else f"cannot be created: {d} is not writable"


def _accepts_folders(d: Path) -> bool:
    if not os.access(d, os.W_OK | os.X_OK):
        return False
    try:
        os.rmdir(tempfile.mkdtemp(dir=d, prefix=".fwtk-write-test-"))
    except OSError:
        return False
    return True


def writable_dir(key: str, path: Any, exists_ok_readonly: bool = False) -> None:
    """`path` is a directory that exists (read-only allowed when exists_ok_readonly) or can be created."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{key}={show(path)}; accepted: a directory path")
    p = Path(path).expanduser()
    why = why_not_writable(p)
    if why is None or (exists_ok_readonly and p.is_dir()):
        return
    advice = {"is a file, not a directory": "; give a directory path", "is not writable": "; give a writable directory"}
    raise ConfigError(f"{key}={path!r} {why}{advice.get(why, '')}")


def check_file(key: str, path: Any, accepted: str, noun: str = "checkpoint") -> None:
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{key}={show(path)}; accepted: {accepted}")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{noun} {path!r} ({key}) is a directory; accepted: {accepted}")
    if not p.is_file():
        raise ConfigError(f"{noun} {path!r} ({key}) does not exist; accepted: {accepted}")


def reason(e: BaseException) -> str:
    """An exception (and the cause Hydra wraps) as one line."""
    while e.__cause__ is not None and type(e).__name__ == "InstantiationException":
        e = e.__cause__
    text = " ".join(str(e).split())
    return text if isinstance(e, (ConfigError,)) else f"{text} ({type(e).__name__})"
