"""Tests for the font encoders in fwtk_lab.models, each built from its conf/model YAML."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

torch.set_num_threads(1)

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
FLAT = ["logreg", "mlp", "size_features", "cnn"]
SEQUENCE = ["rnn", "cnn_rnn", "cnn_rnn_small", "transformer"]
K, H, BLOCK = 5, 16, 8  # classes, image height, block width


def build(name: str, input_shape, **overrides):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    cfg = OmegaConf.merge(cfg, overrides)
    return hydra.utils.instantiate(cfg, num_classes=K, input_shape=input_shape)


def construct(name: str, input_shape, **overrides):
    """Call the YAML's target class directly (instantiate would wrap a ValueError in its own exception)."""
    cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(CONF / f"{name}.yaml"), overrides))
    cls = hydra.utils.get_class(cfg.pop("_target_"))
    cfg.pop("_convert_", None)
    return cls(num_classes=K, input_shape=input_shape, **cfg)


def default_shape(name: str, width: int = 64):
    return (width // BLOCK, 1, H, BLOCK) if name in SEQUENCE else (1, H, width)


def to_blocks(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, T, 1, H, 8), block k = columns [8k, 8k + 8)."""
    b, c, h, w = images.shape
    return images.reshape(b, c, h, w // BLOCK, BLOCK).permute(0, 3, 1, 2, 4)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_yaml_and_code_agree():
    for path in CONF.glob("*.yaml"):
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} lacks the comment line saying what it reproduces"
        cfg = OmegaConf.load(path)
        assert "num_classes" not in cfg and "input_shape" not in cfg
        module = cfg._target_.rsplit(".", 2)[-2]
        size_variant = path.stem.removesuffix("_small").removesuffix("_wide")  # other sizes of the same module
        assert module == size_variant, f"{path.name} targets {cfg._target_}"


@pytest.mark.parametrize("name", FLAT + SEQUENCE)
def test_output_shape_and_takes_blocks(name):
    if name in FLAT:
        for width in (64, 96):
            model = build(name, (1, H, width)).eval()
            assert model.takes_blocks is False
            out = model(torch.rand(3, 1, H, width))
            assert out.shape == (3, K) and torch.isfinite(out).all()
    else:
        model = build(name, (8, 1, H, BLOCK)).eval()
        assert model.takes_blocks is True
        for t in (8, 12, 1):
            out = model(torch.rand(3, t, 1, H, BLOCK))
            assert out.shape == (3, K) and torch.isfinite(out).all()


def rnn_params(inp: int, hidden: int, layers: int = 1, bidirectional: bool = False, gates: int = 4) -> int:
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        layer_in = inp if layer == 0 else hidden * dirs
        total += dirs * gates * (layer_in * hidden + hidden * hidden + 2 * hidden)  # PyTorch: two biases
    return total + (hidden * dirs + 1) * K


def test_param_counts_flat():
    for width in (64, 128):
        pixels = H * width
        assert n_params(build("logreg", (1, H, width))) == pixels * K + K
        assert n_params(build("mlp", (1, H, width))) == (pixels + 1) * 16 + (16 + 1) * K
        assert n_params(build("mlp", (1, H, width), hidden=7)) == (pixels + 1) * 7 + (7 + 1) * K
        assert n_params(build("size_features", (1, H, width))) == 4 * K + K
        assert n_params(build("size_features", (1, H, width), features=["width", "top"])) == 2 * K + K
        conv, dense = (5 * 5 + 1) * 4, (4 * (H // 2) * (width // 2) + 1) * 32
        assert n_params(build("cnn", (1, H, width))) == conv + dense + (32 + 1) * K
        conv, dense = (3 * 3 + 1) * 6, (6 * (H // 4) * (width // 4) + 1) * 10
        assert (
            n_params(build("cnn", (1, H, width), filters=6, kernel_size=3, pool=4, hidden=10))
            == conv + dense + (10 + 1) * K
        )


def test_param_counts_sequence():
    shape = (8, 1, H, BLOCK)
    # The series' two CNN+LSTM models (Keras counted 20,877 for 6a: one LSTM bias per gate, not two).
    assert n_params(build("cnn_rnn", shape)) == 21_005
    assert n_params(build("cnn_rnn_small", shape)) == 5_997
    conv = (5 * 5 + 1) * 4
    assert n_params(build("cnn_rnn", shape)) == conv + rnn_params(4 * 8 * 4, 32)
    conv = (3 * 3 + 1) * 8 + (8 * 3 * 3 + 1) * 8
    assert n_params(build("cnn_rnn_small", shape)) == conv + rnn_params(8 * 4 * 2, 16)

    assert n_params(build("rnn", shape)) == rnn_params(H * BLOCK, 32)
    for cell, gates in [("lstm", 4), ("gru", 3), ("rnn", 1)]:
        model = build("rnn", shape, cell=cell, hidden=12, layers=2, bidirectional=True)
        assert n_params(model) == rnn_params(H * BLOCK, 12, layers=2, bidirectional=True, gates=gates)

    d, ff, layers = 64, 128, 2
    layer = (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * (2 * d)
    expected = (H * BLOCK * d + d) + layers * layer + 2 * d + (d * K + K)
    assert n_params(build("transformer", shape)) == expected


def test_first_layer_weights_shapes():
    flat = (1, H, 64)
    assert build("logreg", flat).first_layer_weights().shape == (K, H, 64)
    assert build("mlp", flat).first_layer_weights().shape == (16, H, 64)
    assert build("size_features", flat).first_layer_weights() is None
    assert build("cnn", flat).first_layer_weights().shape == (4, 5, 5)
    seq = (8, 1, H, BLOCK)
    assert build("cnn_rnn", seq).first_layer_weights().shape == (4, 5, 5)
    assert build("cnn_rnn_small", seq).first_layer_weights().shape == (8, 3, 3)
    assert build("rnn", seq).first_layer_weights().shape == (4 * 32, H, BLOCK)
    assert build("rnn", seq, cell="gru", hidden=10).first_layer_weights().shape == (3 * 10, H, BLOCK)
    assert build("transformer", seq).first_layer_weights().shape == (64, H, BLOCK)
    model = build("logreg", flat)
    weights = model.first_layer_weights()
    assert not weights.requires_grad and weights.device.type == "cpu"
    assert torch.equal(weights[2, 3], model.linear.weight[2, 3 * 64 : 4 * 64])  # row 3 of class 2's image


def test_size_features_values():
    model = build("size_features", (1, H, 64))
    x = torch.full((2, 1, H, 64), 0.2)
    x[0, 0, 3:7, 10:20] = 0.9  # rows 3..6, columns 10..19
    feats = model.featurize(x)
    assert torch.allclose(feats[0], torch.tensor([10 / 64, 4 / H, 3 / H, 7 / H]))
    assert torch.equal(feats[1], torch.zeros(4))  # no pixel above 0.5: no ink
    chosen = build("size_features", (1, H, 64), features=["bottom", "width"], threshold=0.1).featurize(x)
    assert torch.allclose(chosen[0], torch.tensor([1.0, 1.0]))  # everything is ink above 0.1


def test_rnn_uses_final_state_of_top_layer():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 1, H, BLOCK)
    model = build("rnn", x.shape[1:]).eval()
    out, _ = model.recurrent.rnn(x.flatten(2))
    assert torch.allclose(model(x), model.recurrent.head(out[:, -1]), atol=1e-6)
    model = build("rnn", x.shape[1:], cell="gru", hidden=6, layers=2, bidirectional=True).eval()
    out, _ = model.recurrent.rnn(x.flatten(2))
    final = torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1)  # forward after step T-1, backward after step 0
    assert torch.allclose(model(x), model.recurrent.head(final), atol=1e-6)


def test_cnn_rnn_shares_one_conv_over_blocks():
    torch.manual_seed(0)
    x = torch.rand(3, 6, 1, H, BLOCK)
    model = build("cnn_rnn_small", x.shape[1:]).eval()
    per_block = torch.stack([model.conv(x[:, k]).flatten(1) for k in range(x.shape[1])], dim=1)
    assert torch.allclose(model(x), model.recurrent(per_block), atol=1e-6)


def test_conv_stack_accepts_omegaconf_containers():
    cfg = OmegaConf.load(CONF / "cnn_rnn_small.yaml")
    del cfg["_convert_"]  # conv_stack now arrives as a ListConfig of DictConfig
    model = hydra.utils.instantiate(cfg, num_classes=K, input_shape=(8, 1, H, BLOCK))
    assert n_params(model) == 5_997


BAD = [
    ("rnn", {"cell": "lstmx"}, "'lstmx'"),
    ("cnn_rnn", {"cell": "conv"}, "'conv'"),
    ("rnn", {"hidden": 0}, "hidden=0"),
    ("rnn", {"dropout": 1.5}, "dropout=1.5"),
    ("mlp", {"activation": "swish"}, "'swish'"),
    ("cnn", {"activation": "softplus"}, "'softplus'"),
    ("cnn", {"pool": 32}, "16x64"),
    ("cnn", {"filters": -1}, "filters=-1"),
    ("size_features", {"features": ["width", "depth"]}, "depth"),
    ("size_features", {"threshold": 2.0}, "threshold=2.0"),
    ("cnn_rnn", {"conv_stack": [{"out_channels": 8, "kernel_size": 3, "pool": 2}] * 4}, "16x8"),
    ("cnn_rnn", {"conv_stack": [{"out_channels": 8, "kernel": 3, "pool": 2}]}, "kernel"),
    ("cnn_rnn", {"conv_stack": []}, "conv_stack"),
    ("transformer", {"d_model": 10}, "d_model=10"),
    ("transformer", {"layers": 0}, "layers=0"),
]


@pytest.mark.parametrize("name,overrides,named", BAD)
def test_bad_values_raise(name, overrides, named):
    with pytest.raises(ValueError, match=named.replace("[", r"\[")):
        construct(name, default_shape(name), **overrides)


@pytest.mark.parametrize("name", ["logreg", "rnn"])
def test_bad_input_shape_raises(name):
    wrong = (1, H, 64) if name in SEQUENCE else (8, 1, H, BLOCK)
    with pytest.raises(ValueError, match="input_shape"):
        construct(name, wrong)


def synthetic(n: int, width: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c: a band of ink in rows [2 + 2c, 6 + 2c) with gaps, over a faint noisy background."""
    y = torch.arange(n) % K
    x = torch.rand(n, 1, H, width, generator=generator) * 0.3
    for i, c in enumerate(y.tolist()):
        rows = slice(2 + 2 * c, 6 + 2 * c)
        cols = torch.rand(width, generator=generator) < 0.7
        x[i, 0, rows, cols] = 0.7 + 0.3 * torch.rand(4, int(cols.sum()), generator=generator)
    return x, y


# Logistic regression on 4 features in [0, 1] needs large weights: a bigger step and more of them (cheap).
LEARNING_RATE, STEPS = {"size_features": 0.1}, {"size_features": 300}


@pytest.mark.parametrize("name", FLAT + SEQUENCE)
def test_learns_synthetic_problem(name):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y = synthetic(200, 64, gen)
    if name in SEQUENCE:
        x = to_blocks(x)
    model = build(name, x.shape[1:])
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE.get(name, 1e-2))

    def loss_on_all() -> float:
        model.eval()
        with torch.no_grad():
            return F.cross_entropy(model(x), y).item()

    before = loss_on_all()
    model.train()
    for _ in range(STEPS.get(name, 40)):
        idx = torch.randint(0, len(y), (50,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = loss_on_all()
    assert after < 0.7 * before, f"{name}: loss {before:.3f} -> {after:.3f}"


def test_transformer_sees_block_order():
    torch.manual_seed(0)
    x = torch.rand(2, 10, 1, H, BLOCK)
    model = build("transformer", (8, 1, H, BLOCK)).eval()
    flipped = x.flip(1)  # same blocks, reversed: only the positional encoding tells them apart
    assert not torch.allclose(model(x), model(flipped), atol=1e-4)
