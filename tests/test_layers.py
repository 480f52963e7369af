"""The package's layers import downward only: core -> data, models, report -> training -> runs -> inference -> cli
-> entry points (fwtk_lab/<name>.py and every __main__.py). Function-level imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fwtk_lab"
LAYERS = {"core": 0, "data": 1, "models": 1, "report": 1, "training": 2, "runs": 3, "inference": 4, "cli": 5}
ENTRY = 6
MAX_LINES = 300  # "about 250": a module past this is split


def layer_of(module: str) -> tuple[str, int]:
    """(package, rank) of a dotted name inside fwtk_lab: 'fwtk_lab.data.fonts.FontError' -> ('data', 1);
    'fwtk_lab.train' and 'fwtk_lab.data.__main__' -> entry points."""
    parts = module.split(".")
    if len(parts) == 1:
        return "fwtk_lab", 1  # the package's __init__ (OMP_WAIT_POLICY, SLURM's early signal): core only
    if "__main__" in parts or parts[1] not in LAYERS:
        return parts[1], ENTRY
    return parts[1], LAYERS[parts[1]]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every fwtk_lab module `path` imports, anywhere in the file, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("fwtk_lab"):
                found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("fwtk_lab")]
    return found


def upward_imports(package: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        pkg, rank = layer_of(module_name(path, package))
        for line, name in imports_of(path):
            to_pkg, to_rank = layer_of(name)
            if to_pkg == pkg or to_pkg == "fwtk_lab":
                continue
            if to_rank >= rank:
                bad.append(f"{path.relative_to(package.parent)}:{line} ({pkg}) imports {name} ({to_pkg})")
    return bad


def test_every_import_runs_downward():
    assert upward_imports() == []


def test_the_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "fwtk_lab"
    for folder, text in (
        ("core", "from fwtk_lab.training.module import FontClassifier\n"),
        ("data", "import fwtk_lab.models.cnn\n"),
    ):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "x.py").write_text(f"def f():\n    {text}")
    (pkg / "runs").mkdir()
    (pkg / "runs" / "ok.py").write_text(
        "from fwtk_lab.training import module\nfrom fwtk_lab.core.errors import UserError\n"
    )
    bad = upward_imports(pkg)
    assert len(bad) == 2 and "core/x.py" in bad[0] and "data/x.py" in bad[1], bad


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_every_clear_error_is_a_user_error():
    """The CLI catches UserError without knowing each class: every *Error of ours subclasses it."""
    import importlib
    import inspect

    from fwtk_lab.core.errors import UserError

    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(module_name(path))
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and name.endswith("Error") and not issubclass(cls, UserError):
                missing.append(f"{module.__name__}.{name}")
    assert missing == []
