"""fwtk_lab's SLURM launcher (Hydra only loads plugins from the hydra_plugins namespace)."""
