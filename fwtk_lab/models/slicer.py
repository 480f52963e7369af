"""Block slicers: (B, 1, H, W) images -> (B, T, 1, H, w) blocks in left-to-right order, or whole images."""

from __future__ import annotations

import torch

from fwtk_lab.core.errors import UserError


class SlicerError(UserError, ValueError):
    """A block width or stride that does not fit the image width."""


class BlockSlicer:
    """Block k is columns [k*stride, k*stride + width); the blocks must tile the image exactly."""

    takes_blocks = True

    def __init__(self, width: int = 8, stride: int | None = None):
        self.width = int(width)
        self.stride = int(stride) if stride is not None else self.width
        if self.width < 1 or self.stride < 1:
            raise SlicerError(f"slicer.width={self.width} and slicer.stride={self.stride} must be >= 1")
        if self.stride > self.width:
            raise SlicerError(
                f"slicer.stride={self.stride} is larger than slicer.width={self.width}: columns between "
                f"blocks would never be seen; use a stride <= the width (null: the width)"
            )

    def num_blocks(self, image_width: int) -> int:
        """T for an image width; an error naming the numbers if the blocks do not cover it exactly."""
        w, s = self.width, self.stride
        if image_width < w or (image_width - w) % s:
            fits = [k for k in range(w, 4 * max(image_width, w) + 1) if (k - w) % s == 0][:3]
            raise SlicerError(
                f"slicer.width={w}, slicer.stride={s} do not fit image width {image_width}: "
                f"(width - {w}) must be a multiple of {s} and width >= {w} (widths that fit: {fits}...); "
                f"choose a block width/stride dividing the image, e.g. slicer.width=8 for 64 or 128 px"
            )
        return (image_width - w) // s + 1

    def block_shape(self, height: int, image_width: int) -> tuple[int, int, int, int]:
        return (self.num_blocks(image_width), 1, height, self.width)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        self.num_blocks(w)
        blocks = x.unfold(3, self.width, self.stride)  # (B, C, H, T, w)
        return blocks.permute(0, 3, 1, 2, 4).contiguous()  # (B, T, C, H, w)


class NoSlicer:
    """Whole images: only for models that read the whole image (logreg, mlp, size_features, cnn)."""

    takes_blocks = False

    def __init__(self, width: int | None = None, stride: int | None = None):
        """Takes (and ignores) the blocks slicer's keys so that the group shares one schema."""

    def block_shape(self, height: int, image_width: int) -> tuple[int, int, int]:
        return (1, height, image_width)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x
