"""Build or verify the dataset cache and summarise it: `python -m fwtk_lab.data` (`make data`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.cli.preflight import preflight
from fwtk_lab.core.config import CONF_DIR
from fwtk_lab.core.files import disk_full
from fwtk_lab.data import splits
from fwtk_lab.data.dataset import prepare
from fwtk_lab.training import figures

log = logging.getLogger("fwtk_lab.data")


def size_text(sizes) -> str:
    """A manifest's font sizes of one font ({size: images}, or one size) as "16 (87.4%), 20 (12.6%)"."""
    if not isinstance(sizes, dict):
        return str(sizes)
    total = sum(sizes.values()) or 1
    return ", ".join(f"{s} ({100 * n / total:.1f}%)" for s, n in sorted(sizes.items(), key=lambda kv: int(kv[0])))


def summarise(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Build (or open and verify, re-hashing every file) the cache; print counts per font and split; write the sample sheet."""
    t0 = time.perf_counter()
    store = prepare(cfg.dataset, cfg.paths.data_dir, rehash=bool(cfg.dataset.verify_checksums))
    seconds = time.perf_counter() - t0
    m = store.manifest
    codes = splits.assign(store.num_phrases, dict(cfg.dataset.split), cfg.dataset.split.seed)
    rows = splits.indices(store.phrase_ids, codes)
    labels = np.asarray(store.labels)

    table = Table(title=f"{m['name']}: {store.root}")
    table.add_column("font")
    table.add_column("size", justify="right")
    for split in splits.SPLITS:
        table.add_column(split, justify="right")
    table.add_column("images", justify="right")
    sizes = [size_text(s) for s in m.get("font_sizes") or [""] * len(store.classes)]
    for k, name in enumerate(store.classes):
        per_split = [int((labels[rows[s]] == k).sum()) for s in splits.SPLITS]
        table.add_row(name, str(sizes[k]), *map(str, per_split), str(int((labels == k).sum())))
    table.add_row("all", "", *(str(len(rows[s])) for s in splits.SPLITS), str(len(labels)), style="bold")
    console = Console()
    console.print(table)

    n = len(labels)
    total_bytes = sum(f["bytes"] for f in m["files"].values())
    built = m.get("build_seconds")
    console.print(
        f"phrases {store.num_phrases} (corpus lines kept before dedup: {m.get('corpus_lines_kept', '-')}), "
        f"images {n} of {tuple(store.images.shape[1:])} uint8, {total_bytes / 2**20:.1f} MiB on disk"
    )
    if built:
        console.print(
            f"build time {built:.1f} s ({n / built:,.0f} images/s); this call {seconds:.1f} s "
            f"({'built it' if store.built else 'opened and verified the cache'})"
        )
    fig = figures.sample_sheet(
        store.images,
        store.labels,
        store.phrase_ids,
        store.classes,
        phrase=int(cfg.sample_phrase) % store.num_phrases,
        phrases=store.phrases(),
    )
    sheet = save_sheet(fig, store.root, run_dir)
    console.print(f"sample sheet {sheet}" if sheet else "sample sheet not written (no writable directory)")
    return {"root": str(store.root), "images": n, "build_seconds": built, "seconds": seconds}


def save_sheet(fig, cache_dir: Path, run_dir: str | Path | None) -> Path | None:
    """The sample sheet goes into the cache; into the run directory when the cache is read-only."""
    for d in (cache_dir, run_dir):
        if d is None:
            continue
        try:
            path = Path(d) / "sample_sheet.png"
            figures.save_png(fig, path)
            return path
        except OSError as e:
            if disk_full(e):
                raise
            log.warning("cannot write the sample sheet into %s (%s)", d, e.strerror or e)
    return None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="data")
@friendly_errors
def main(cfg: DictConfig) -> None:
    preflight(cfg, "data")
    from hydra.core.hydra_config import HydraConfig

    summarise(cfg, HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None)


if __name__ == "__main__":
    launch(main, "data", check="data")
