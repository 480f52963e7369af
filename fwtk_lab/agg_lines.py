"""Draw labelled test images with matplotlib's Agg renderer: `python -m fwtk_lab.agg_lines out=DIR [faces=[...]]`.

See fwtk_lab.data.agg_lines for what is drawn and conf/agg_lines.yaml for the options.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.data import agg_lines


def run(cfg: DictConfig) -> Path:
    start = time.perf_counter()
    out = agg_lines.write(cfg)
    k = len(agg_lines.as_list(cfg, "faces"))
    seconds = time.perf_counter() - start
    print(
        f"wrote {k * cfg.per_font} images ({k} x {cfg.per_font} per font) and manifest.csv to {out} in {seconds:.1f} s"
    )
    return out


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="agg_lines")
@friendly_errors
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    launch(main, "agg_lines")
