"""An encoder from its config group (`conf/model/*.yaml`): the class `_target_` names, built with the
number of classes and the input shape the slicer gives it."""

from __future__ import annotations

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig


def takes_blocks(model_cfg: DictConfig) -> bool:
    """Whether the encoder class named by `_target_` reads the slicer's blocks (class attribute `takes_blocks`)."""
    try:
        cls = get_class(model_cfg._target_)
    except (ImportError, ValueError) as e:
        raise ValueError(f"model._target_={model_cfg._target_!r} cannot be imported ({e})") from None
    return bool(getattr(cls, "takes_blocks", False))


def build_encoder(model_cfg: DictConfig, num_classes: int, input_shape: tuple[int, ...]) -> torch.nn.Module:
    """Instantiate `conf/model/*.yaml`; a bad key or value fails with the model's own message."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(model_cfg, num_classes=num_classes, input_shape=tuple(input_shape))
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ValueError(f"model {model_cfg.get('_target_')}: {cause}") from None


EVAL_CHUNK = 256  # images per forward call when evaluating on the CPU (see `logits`)


def logits(slicer: torch.nn.Module, encoder: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Float images (B, 1, H, W) in [0, 1] -> logits (B, classes), through the slicer when the encoder reads blocks.

    Without gradients on the CPU, large batches go through in chunks of EVAL_CHUNK images: a whole evaluation
    batch (1024) falls out of the CPU caches and ran 1.7-2x slower per image.
    """
    if len(images) > EVAL_CHUNK and not torch.is_grad_enabled() and images.device.type == "cpu":
        return torch.cat([logits(slicer, encoder, chunk) for chunk in images.split(EVAL_CHUNK)])
    return encoder(slicer(images) if encoder.takes_blocks else images)


def build_slicer_and_encoder(cfg: DictConfig, num_classes: int, image_shape: tuple[int, int]):
    """(slicer, encoder) of a run's config for images of `image_shape` (H, W), as training builds them."""
    slicer = instantiate(cfg.slicer)
    blocks = takes_blocks(cfg.model)
    if blocks and not slicer.takes_blocks:
        raise ValueError(f"model {cfg.model._target_} reads blocks: use slicer=blocks, not slicer=none")
    h, w = image_shape
    input_shape = slicer.block_shape(h, w) if blocks else (1, h, w)
    return slicer, build_encoder(cfg.model, num_classes, input_shape)
