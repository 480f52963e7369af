"""The report's spec: the series' title, legend, order and expectations as data; bad files refused in one line."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fwtk_lab.report.__main__ import main as report_main
from fwtk_lab.report.runs import ReportError
from fwtk_lab.report.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SERIES_SPEC = ROOT / "experiments" / "series_report.yaml"


def fake_run(d: Path, step: str, model: str, variant: str, acc: float, seed: int = 0) -> None:
    """A finished run: config.yaml with a series: block, metrics.json."""
    d.mkdir(parents=True)
    series = {"step": step, "model": model, "recipe": "var_jitter", "series_recipe": "var_jitter"}
    cfg = {
        "seed": seed,
        "model": {"_target_": f"fwtk_lab.models.{model}.Model"},
        "dataset": {"name": "var_jitter", "fonts": ["a", "b", "c", "d", "e"], "max_phrases": None},
        "data": {"batch_size": 32, "pixel_scale": 255},
        "series": {**series, "variant": variant, "figure": "fig"},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    (d / "metrics.json").write_text(
        json.dumps({"params": 1000, "epochs": 1, "test/acc": acc, "classes": list("abcde")})
    )


def test_the_series_spec_loads():
    spec = load_spec(SERIES_SPEC)
    assert spec.title == "The series' progression, reproduced"
    assert spec.order["step"] == ["1", "2", "3", "4", "5", "6a", "6b", "7"] and spec.order["variant"] == ["corrected"]
    assert spec.expectations_heading == "Expectations (issue 7)" and len(spec.expectations) == 9
    assert spec.legend.startswith("Budget per row:") and "\n" not in spec.legend
    assert spec.series_recipe == {"logreg": "fixed16", "mlp": "fixed16", "size_features": "fixed16", "*": "var_jitter"}


@pytest.mark.parametrize(
    "text, said",
    [
        ("- a list\n", "the file must be a mapping"),
        ("title: x\nlegnd: y\n", "unknown legnd"),
        (
            "expectations:\n  - {text: t, row: {model: cnn}, op: gt, value: 1}\n",
            "expectations[0].op 'gt' is not one of",
        ),
        ("expectations:\n  - {text: t, row: {model: cnn}, op: '>='}\n", "expectations[0]: missing value"),
        ("expectations:\n  - {text: t, row: {model: cnn}, op: between, value: 1}\n", "must be [low, high]"),
        ("order: {stp: ['1']}\n", "order: unknown stp"),
        ("title: [unclosed\n", "cannot be read"),
    ],
)
def test_a_bad_spec_names_the_file_and_what_is_accepted(tmp_path, capsys, text, said):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ReportError) as e:
        load_spec(path)
    message = str(e.value)
    assert message.startswith(f"spec {path}: ") and said in message and "; accepted: a mapping with any of" in message
    assert "\n" not in message
    fake_run(tmp_path / "runs" / "r", "4", "cnn", "corrected", 0.9)
    assert report_main([str(tmp_path / "runs"), "--out", str(tmp_path / "p.md"), "--spec", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: spec {path}: ")
    assert not (tmp_path / "p.md").exists()


def test_a_missing_spec_file_is_refused(tmp_path):
    with pytest.raises(ReportError, match=r"spec .*nope\.yaml: cannot be read .*; accepted: "):
        load_spec(tmp_path / "nope.yaml")


def test_expectations_met_not_met_not_run(tmp_path):
    """The series' spec on fake runs: a failed check reads NOT met, a passed one met, an absent row not run."""
    runs = tmp_path / "runs"
    fake_run(runs / "a", "4", "cnn", "corrected", 0.90)  # below 98%
    fake_run(runs / "b", "4", "cnn", "trained", 0.99)
    fake_run(runs / "c", "6a", "cnn_rnn", "faithful", 0.61, seed=0)
    fake_run(runs / "d", "6a", "cnn_rnn", "faithful", 0.63, seed=1)
    out = tmp_path / "p.md"
    assert report_main([str(runs), "--out", str(out), "--spec", str(SERIES_SPEC)]) == 0
    text = out.read_text()
    assert text.startswith("# The series' progression, reproduced\n") and "Budget per row:" in text
    assert "- cnn on var_jitter >= 98%, the series' budget (corrected): NOT met (90.00%)" in text
    assert "- cnn on var_jitter >= 98%, trained to convergence (trained): met (99.00%)" in text
    assert "- cnn_rnn faithful (the series' defects) near the series' ~60% (40-80%): met (62.00%)" in text
    assert "- cnn_rnn on var_jitter >= 99.5%, the series' budget (corrected): not run" in text
    steps = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "step" not in line]
    assert steps == ["4", "4", "6a"]  # by step, corrected first
    assert "## Expectations (issue 7)" in text
    plain = tmp_path / "plain.md"  # no spec: the generic page, no legend, no checks
    assert report_main([str(runs), "--out", str(plain)]) == 0
    generic = plain.read_text()
    assert generic.startswith("# Finished runs\n") and "Budget per row" not in generic and "Expectations" not in generic


def test_report_package_imports_only_core_and_matplotlib_in_plot():
    """The report reads files: of fwtk_lab only core (and itself); matplotlib only in plot.py, not at import."""
    for path in (ROOT / "fwtk_lab" / "report").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.startswith("fwtk_lab"):
                    assert name.startswith(("fwtk_lab.core", "fwtk_lab.report")), (path.name, name)
                if name.startswith("matplotlib"):
                    assert path.name == "plot.py", path.name
    code = "import sys, fwtk_lab.report.__main__; print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]"
