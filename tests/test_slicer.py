"""The block slicer (B,1,H,W) -> (B,T,1,H,w) and the no-op slicer."""

from __future__ import annotations

import pytest
import torch

from fwtk_lab.models.slicer import BlockSlicer, NoSlicer, SlicerError

# ----------------------------------------------------------------------------------------------- 8. slicer


@pytest.mark.parametrize("w", [64, 96, 128])
def test_block_slicer(w):
    x = torch.randint(0, 256, (3, 1, 16, w), dtype=torch.uint8)
    blocks = BlockSlicer(8)(x)
    assert blocks.shape == (3, w // 8, 1, 16, 8)
    for k in range(w // 8):
        assert torch.equal(blocks[:, k], x[:, :, :, 8 * k : 8 * k + 8])
    assert BlockSlicer(8).block_shape(16, w) == (w // 8, 1, 16, 8)


def test_block_slicer_stride_and_errors():
    x = torch.rand(2, 1, 16, 64)
    s = BlockSlicer(8, stride=4)
    y = s(x)
    assert s.num_blocks(64) == 15 and y.shape == (2, 15, 1, 16, 8)
    for k in range(15):
        assert torch.equal(y[:, k], x[:, :, :, 4 * k : 4 * k + 8])
    with pytest.raises(SlicerError) as e:
        BlockSlicer(6)(x)
    assert "width=6" in str(e.value) and "64" in str(e.value)
    with pytest.raises(SlicerError):
        BlockSlicer(8).num_blocks(4)
    with pytest.raises(SlicerError):
        BlockSlicer(0)


def test_no_slicer():
    x = torch.rand(2, 1, 16, 64)
    assert NoSlicer(8)(x) is x
    assert NoSlicer().block_shape(16, 64) == (1, 16, 64)
