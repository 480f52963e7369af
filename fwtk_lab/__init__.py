"""fwtk_lab: font recognition experiments on rendered lines of Shakespeare (Hydra + PyTorch Lightning)."""

import os

# OpenMP threads that spin while idle make torch ops on a busy 2-core machine up to 100x slower:
# let them sleep instead. Set before torch loads its OpenMP runtime; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
