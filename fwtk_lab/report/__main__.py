"""`python -m fwtk_lab.report DIR... [--out FILE.md] [--spec FILE.yaml] [--command TEXT] [--title TEXT]`.

A finished run is a directory holding `config.yaml` and `metrics.json` (any depth under each DIR).
Runs that differ only in their seed form one row: test accuracy mean and spread over seeds, the
budget (epochs, phrases, training images), wall time, train-split AIC beside the test NLL, and the
figure of the experiment config's `series:` block. Writes FILE.md and FILE.png (accuracy against
parameters per recipe; training-loss curves from the TensorBoard events when there are any). A spec
(YAML) adds a page's own title, legend, row order and expectations (met / NOT met / not run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fwtk_lab.report.page import report
from fwtk_lab.report.runs import ReportError
from fwtk_lab.report.spec import Spec, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fwtk_lab.report", description="Gather finished runs into a table, checks and a plot."
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run directories or multirun directories")
    parser.add_argument("--out", default="experiments/progression.md", help="markdown file (the PNG goes beside it)")
    parser.add_argument("--command", default=None, help="the command that made the runs, quoted in the page")
    parser.add_argument("--title", default=None, help="the page's heading (default: the spec's title)")
    parser.add_argument(
        "--spec", default=None, help="YAML: title, legend, row order, expectations (experiments/series_report.yaml)"
    )
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec) if args.spec else Spec()
        out = report(args.dirs, Path(args.out), args.command, args.title, spec)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"written {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
