"""fwtk_lab: font recognition experiments on rendered lines of Shakespeare (Hydra + PyTorch Lightning)."""

import os

# OpenMP threads that spin while idle make torch ops on a busy 2-core machine up to 100x slower:
# let them sleep instead. Set before torch loads its OpenMP runtime; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from fwtk_lab.core import slurm_env  # noqa: E402  (after OMP_WAIT_POLICY; it imports no torch)

# In a submitit job, SLURM's time-limit signal may come while torch is still importing: record it instead of
# dying of it (exit 140, FAILED). Importing fwtk_lab is the first of ours that a submitit job does.
slurm_env.hold_signals(sigterm=False)
