"""Train, then test the best checkpoint: `python -m fwtk_lab.train [model=cnn_rnn] [key=value ...]`.

Rerunning the same command continues the run from its newest checkpoint (`resume=auto`), or says that it
is finished; see docs/resuming.md.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.cli.preflight import preflight
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.runs import fit, identity

identity.register()  # ${run_dir:} and ${sweep_id:} name the run and sweep directories (Hydra resolves them first)


def train(cfg: DictConfig) -> dict:
    """Check the config, then fit (continuing the run's newest checkpoint), test, and write metrics.json."""
    preflight(cfg, "train")  # every start-up check, before any file is written or data built
    return fit.run(cfg)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@friendly_errors
def main(cfg: DictConfig) -> float | None:
    """The value of `optimized_metric` (what an Optuna sweep optimises)."""
    metrics = train(cfg)
    value = metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    return None if value is None else float(value)


if __name__ == "__main__":
    launch(main, "train", check="train")
