"""The benchmarks leave the working tree as they found it: no checkpoints, logs or other files in the repo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_FONTS

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("__pycache__", ".pytest_cache/", ".hypothesis/", ".ruff_cache/")  # caches other tests may write meanwhile

# The bare-Lightning variant on random in-memory batches, then fwtk_lab's path (full and lean: the lean one has
# Lightning's default checkpointing) on a tiny dataset: a few steps each, in the repo root as `make bench` runs.
SCRIPT = """
import sys
import torch
from experiments.bench.overhead import OURS_VARIANTS, bare_lightning, ours

g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (4 * 128, 1, 16, 64), dtype=torch.uint8, generator=g)
labels = torch.randint(0, 5, (4 * 128,), generator=g)
assert bare_lightning("rnn", images, labels, warm=1, steps=2, lr=0.003) > 0
tiny = sys.argv[1:]
for name in ("ours", "ours_lean"):
    assert ours("rnn", [*OURS_VARIANTS[name], *tiny], warm=1, steps=2) > 0
print("bench ok")
"""


def tree_state() -> list[str]:
    """git status with untracked and ignored files listed one by one, less the caches."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if not any(n in line for n in NOISE))


def test_bench_variants_leave_no_files(tmp_path):
    tiny = [
        "dataset.max_phrases=200",
        f"dataset.fonts=[{','.join(TINY_FONTS)}]",
        "dataset.build_workers=1",
        f"paths.data_dir={tmp_path / 'data'}",
        "data.batch_size=16",
        "trainer.max_epochs=1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    before = tree_state()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *tiny], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bench ok" in proc.stdout
    after = tree_state()
    assert after == before, f"the benchmark changed the tree: {sorted(set(after) ^ set(before))}"
