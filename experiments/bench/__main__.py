"""`python -m experiments.bench SECTION [SECTION ...] [--quick]`: run benchmark sections, or `report` alone."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Callable

import experiments.bench  # noqa: F401  (first: fwtk_lab sets OMP_WAIT_POLICY before torch starts OpenMP)

DEFAULT = ["overhead", "compute", "eval", "startup", "data", "tta"]


def sections(quick: bool) -> dict[str, Callable[[], object]]:
    """Section name -> what runs it (the section modules are imported here, after fwtk_lab)."""
    from experiments.bench import compute, data, evaluation, overhead, startup, store, tta

    return {
        "overhead": lambda: [overhead.run(m, quick) for m in ("cnn_rnn", "rnn", "one_parameter")],
        "overhead_cnn_rnn": lambda: overhead.run("cnn_rnn", quick),
        "overhead_rnn": lambda: overhead.run("rnn", quick),
        "overhead_one_parameter": lambda: overhead.run("one_parameter", quick),
        "compute": lambda: compute.run(quick),
        "eval": lambda: evaluation.run("cnn_rnn", quick),
        "startup": lambda: startup.run(quick),
        "tta": lambda: [tta.run("cnn_rnn", quick), tta.run("cnn_rnn_small", quick)],
        "tta_cnn_rnn": lambda: tta.run("cnn_rnn", quick),
        "tta_cnn_rnn_small": lambda: tta.run("cnn_rnn_small", quick),
        "data": lambda: data.run(quick),
        "report": lambda: store.write_report(store.load()),  # bench.md from bench_results.json, nothing measured
    }


def main() -> None:
    """Run the sections asked for; a failing section does not stop the others (exit 1 at the end)."""
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)  # no "GPU available" etc. per Trainer
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    p = argparse.ArgumentParser(prog="python -m experiments.bench", description=experiments.bench.__doc__)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("sections", nargs="*", default=DEFAULT, help=f"(default: {' '.join(DEFAULT)})")
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test, results not saved")
    args = p.parse_args()
    table = sections(args.quick)
    bad = [s for s in args.sections if s not in table]
    if bad:
        p.exit(2, f"error: unknown section {bad[0]!r}; accepted: {', '.join(table)}\n")
    failed = []
    for s in args.sections:
        try:
            table[s]()
        except Exception:  # one broken section does not lose the others' measurements
            traceback.print_exc()
            failed.append(s)
    if failed:
        sys.exit(f"error: sections failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
