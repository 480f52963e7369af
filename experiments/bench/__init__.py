"""Speed benchmarks of issue 7: framework overhead, compute, evaluation, start-up, time to accuracy, data.

    python -m experiments.bench SECTION [SECTION ...] [--quick]     (make bench: each section in its own process)

Sections: overhead (plain loop vs bare LightningModule vs fwtk_lab, cnn_rnn and rnn), compute (FLOPs,
GFLOP/s against the 1-thread matmul peak, variants), eval (test split images/s vs training samples/s),
startup (command to first training step), tta (time to accuracy, real training runs), data (dataset
build vs the original's naive renderer). Each section stores its numbers in experiments/bench_results.json
and experiments/bench.md is rewritten from that file (`python -m experiments.bench report` rewrites it
alone), so sections can be rerun one at a time. Ratios are measured in one process, the settings
alternating in rounds; figures are medians with [min-max] over the rounds. --quick: tiny budgets (a smoke
test, numbers meaningless, nothing saved). `python -m experiments.bench.gpu` is the prepared GPU run.
"""

import fwtk_lab  # noqa: F401  (first: OMP_WAIT_POLICY before torch starts OpenMP)
