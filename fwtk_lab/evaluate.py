"""Test a checkpoint on its run's test split, or on a folder of images it did not draw.

python -m fwtk_lab.evaluate ckpt_path=...                  # the run's own test split
python -m fwtk_lab.evaluate ckpt_path=... images=DIR       # manifest.csv or <font>/ sub-folders
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from fwtk_lab.cli.errors import friendly_errors
from fwtk_lab.cli.launch import launch
from fwtk_lab.cli.preflight import preflight
from fwtk_lab.core import threads
from fwtk_lab.core.config import CONF_DIR, validate
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.core.files import atomic_write_json
from fwtk_lab.data import dataset as dataset_lib
from fwtk_lab.data.datamodule import FontDataModule
from fwtk_lab.inference import folder
from fwtk_lab.inference.classify import load_model
from fwtk_lab.runs import checkpoint_file
from fwtk_lab.runs.dataset_record import KEY as DATASET_KEY
from fwtk_lab.training import figures
from fwtk_lab.training.module import FontClassifier

log = logging.getLogger("fwtk_lab.evaluate")


def check_same_data(ckpt: dict, run_cfg, ckpt_path: str, allow_other_data: bool = False) -> None:
    """Refuse (or, with allow_other_data, warn) when the dataset the run's config gives now is not the
    one the checkpoint was trained on (its corpus, fonts or recipe changed since)."""
    recorded = ckpt.get(DATASET_KEY)
    if not recorded:
        log.warning(
            "checkpoint %s records no dataset identity (written before this check existed): "
            "cannot tell whether the data changed since training",
            ckpt_path,
        )
        return
    now = dataset_lib.cache_id(run_cfg.dataset)
    if now is None or now["key"] == recorded.get("key"):
        return
    msg = (
        f"checkpoint {ckpt_path!r} was trained on dataset {recorded.get('name')} but its config now gives "
        f"{now['name']} (the corpus, a font file or the recipe changed since training)"
    )
    if not allow_other_data:
        raise ConfigError(
            f"{msg}; its test accuracy would be on other data; restore the inputs, or pass "
            f"allow_other_data=true to evaluate anyway"
        )
    log.warning("%s; evaluating anyway (allow_other_data=true)", msg)


def evaluate(
    ckpt_path: str,
    data_dir: str | None = None,
    accelerator: str = "auto",
    out_dir: str | None = None,
    allow_other_data: bool = False,
) -> dict:
    """Test metrics and confusion matrix of a checkpoint, on the dataset and split its run used."""
    ckpt = checkpoint_file.load(ckpt_path)
    run_cfg = OmegaConf.create(ckpt["hyper_parameters"]["cfg"])
    validate(run_cfg)
    check_same_data(ckpt, run_cfg, str(ckpt_path), allow_other_data)
    model = FontClassifier.load_from_checkpoint(ckpt_path, map_location="cpu")
    dm = FontDataModule(run_cfg.dataset, run_cfg.data, data_dir or run_cfg.paths.data_dir, seed=run_cfg.seed)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=run_cfg.trainer.precision,
    )
    tested = trainer.test(model, datamodule=dm, verbose=False)[0]
    cm = model.confusion_matrix().numpy()
    result = {
        "checkpoint": str(Path(ckpt_path).resolve()),
        **{k: float(v) for k, v in tested.items()},
        "classes": model.classes,
        "confusion_matrix": cm.astype(int).tolist(),
    }
    if out_dir:
        atomic_write_json(Path(out_dir) / "metrics.json", result)
        figures.save_png(figures.confusion(cm, model.classes), Path(out_dir) / "confusion_matrix.png")
    return result


def evaluate_images(ckpt_path: str, images: str, out_dir: str | None = None, invert: str = "auto") -> dict:
    """Accuracy, unknown rates, calibration error, confusion matrix and breakdowns on a folder of images."""
    model = load_model(ckpt_path)
    records = folder.run(model, folder.read_folder(images), invert)
    result = {
        "checkpoint": str(Path(ckpt_path).resolve()),
        "images_dir": str(Path(images).resolve()),
        "temperature": float(model.temperature),
        "unknown_threshold": model.unknown_threshold,
        **folder.summary(records, model.classes),
    }
    if out_dir:
        out = Path(out_dir)
        atomic_write_json(out / "metrics.json", result)
        folder.write_predictions(records, model.classes, out / "predictions.csv")
        cm = np.array(result["confusion_matrix"])
        figures.save_png(figures.confusion(cm, model.classes), out / "confusion_matrix.png")
        figures.save_png(folder.reliability(records), out / "calibration.png")
    return result


def show_images(result: dict) -> None:
    def pct(v) -> str:
        return "-" if v is None else f"{v:.1%}"

    console = Console()
    console.print(f"checkpoint {result['checkpoint']} on {result['images_dir']}")
    console.print(
        f"{result['known_images']} images of the model's fonts: accuracy {pct(result['accuracy'])}, "
        f"flagged unknown {pct(result['known_flagged_unknown'])}, ECE {result['ece']:.3f} "
        f"(temperature {result['temperature']:.3f})"
    )
    console.print(
        f"{result['unseen_images']} images of other fonts: flagged unknown {pct(result['unseen_flagged_unknown'])}"
    )
    for col, groups in result["by"].items():
        table = Table(title=f"by {col}")
        for name in (col, "images", "accuracy", "flagged unknown"):
            table.add_column(name, justify="left" if name == col else "right")
        for value, g in groups.items():
            table.add_row(value, str(g["images"]), pct(g["accuracy"]), pct(g["flagged_unknown"]))
        console.print(table)


def show(result: dict) -> None:
    console = Console()
    console.print(f"checkpoint {result['checkpoint']}")
    console.print(
        f"test accuracy {result['test/acc']:.4f}  loss {result['test/loss']:.4f}  "
        f"AIC {result['test/aic']:.1f}  parameters {int(result['test/params'])}"
    )
    table = Table(title="confusion matrix (rows: true font, columns: predicted)")
    table.add_column("true \\ predicted")
    for name in result["classes"]:
        table.add_column(name, justify="right")
    table.add_column("acc", justify="right")
    for name, row in zip(result["classes"], result["confusion_matrix"]):
        table.add_row(name, *map(str, row), f"{result.get(f'test/acc_font/{name}', 0):.3f}")
    console.print(table)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
@friendly_errors
def main(cfg: DictConfig) -> None:
    threads.configure(cfg.threads)
    if cfg.get("images"):
        result = evaluate_images(str(cfg.ckpt_path), str(cfg.images), cfg.paths.run_dir, str(cfg.get("invert", "auto")))
        show_images(result)
        Console().print(
            f"written {Path(cfg.paths.run_dir)} (metrics.json, predictions.csv, confusion_matrix.png, calibration.png)"
        )
        return
    preflight(cfg, "evaluate")
    result = evaluate(
        cfg.ckpt_path,
        cfg.data_dir,
        cfg.accelerator,
        out_dir=cfg.paths.run_dir,
        allow_other_data=bool(cfg.get("allow_other_data", False)),
    )
    show(result)
    Console().print(f"written {Path(cfg.paths.run_dir) / 'metrics.json'}")


if __name__ == "__main__":
    launch(main, "evaluate", check="evaluate")
