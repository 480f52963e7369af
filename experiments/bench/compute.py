"""Compute: FLOPs per cnn_rnn sample by hand, and plain eager training GFLOP/s against the 1-thread matmul peak."""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from experiments.bench import lab
from experiments.bench.store import save, spread

VARIANTS = {  # name -> eager_rate keywords
    "batch 128": dict(batch=128),
    "batch 256": dict(batch=256),
    "batch 512": dict(batch=512),
    "batch 128 channels_last": dict(batch=128, channels_last=True),
    "batch 128, 2 threads": dict(batch=128, threads=2),
    "batch 512, 2 threads": dict(batch=512, threads=2),
}


def matmul_peak(n: int = 512, reps: int = 20) -> float:
    """1-thread fp32 GFLOP/s of a square matmul (the best of a few repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def cnn_rnn_flops(
    conv_stack=({"out_channels": 4, "kernel_size": 5, "pool": 2},),
    hidden: int = 32,
    h: int = 16,
    w: int = 64,
    block: int = 8,
    classes: int = 5,
) -> dict:
    """FLOPs per sample by hand (multiply-add = 2): forward, and backward = 2x forward except the input gradient
    of the first layer (weights only there)."""
    t = w // block
    conv_fwd, c, hh, ww, first_conv = 0, 1, h, block, 0
    for i, spec in enumerate(conv_stack):
        k, oc, p = spec["kernel_size"], spec["out_channels"], spec["pool"]
        macs = hh * ww * oc * c * k * k
        conv_fwd += 2 * macs * t
        if i == 0:
            first_conv = 2 * macs * t
        c, hh, ww = oc, hh // p, ww // p
    feat = c * hh * ww
    lstm_fwd = 2 * t * 4 * hidden * (feat + hidden)  # four gates: W_ih x + W_hh h per step (elementwise ignored)
    head_fwd = 2 * hidden * classes
    fwd = conv_fwd + lstm_fwd + head_fwd
    bwd = 2 * fwd - first_conv  # grads of inputs and weights; the first conv's input needs none
    return {"conv_fwd": conv_fwd, "lstm_fwd": lstm_fwd, "head_fwd": head_fwd, "forward": fwd, "train": fwd + bwd}


def counted_flops(model: str = "cnn_rnn") -> int:
    """torch's FlopCounterMode over one sample's forward + backward (it counts conv and linear, not the LSTM)."""
    clf = lab.make_encoder(model)
    x = torch.rand(1, 1, 16, 64)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(clf(x), torch.zeros(1, dtype=torch.long)).backward()
    return int(counter.get_total_flops())


def eager_rate(
    model: str, batch: int, steps: int, channels_last: bool = False, compiled: bool = False, threads: int = 1
) -> float:
    """Samples/s of a plain eager (or compiled) training step on random uint8 batches, after 5 warm-up steps."""
    torch.set_num_threads(threads)
    clf = lab.make_encoder(model)
    slicer, enc = clf.slicer, clf.encoder
    opt = torch.optim.Adam(enc.parameters(), lr=0.003)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 1, 16, 64), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 5, (batch,), generator=g)
    if channels_last:
        enc = enc.to(memory_format=torch.channels_last)

    def step_fn(x, y):
        loss = F.cross_entropy(enc(slicer(x.float().div(255))), y)
        loss.backward()
        return loss

    fn = torch.compile(step_fn) if compiled else step_fn
    for i in range(5 + steps):
        if i == 5:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        fn(images, labels)
        opt.step()
    rate = steps * batch / (time.perf_counter() - t0)
    torch.set_num_threads(1)
    return rate


def compiled_rates(steps: int, rounds: int) -> dict | None:
    """torch.compile's samples/s and compile seconds; None where it fails (it needs a C compiler)."""
    with contextlib.suppress(Exception):
        t0 = time.perf_counter()
        eager_rate("cnn_rnn", 128, 2, compiled=True)
        compile_s = time.perf_counter() - t0
        rates = [eager_rate("cnn_rnn", 128, steps, compiled=True) for _ in range(rounds)]
        return {"samples_per_s": spread(rates), "compile_seconds": compile_s}
    return None


def run(quick: bool = False, rounds: int = 3) -> None:
    """The variants' samples/s, GFLOP/s and share of the matmul peak; stored as compute/cnn_rnn."""
    flops = cnn_rnn_flops()
    torch.set_num_threads(1)
    steps = 10 if quick else 60
    rates: dict[str, list[float]] = {k: [] for k in VARIANTS}
    peaks: list[float] = []
    for _ in range(1 if quick else rounds):
        peaks.append(matmul_peak(256 if quick else 512, 3 if quick else 20))
        for name, kw in VARIANTS.items():
            rates[name].append(eager_rate("cnn_rnn", steps=steps * 128 // kw["batch"] + 2, **kw))
    compiled = compiled_rates(steps, 1 if quick else rounds)
    peak = max(peaks)
    out = {}
    for name, xs in rates.items():
        s = spread(xs)
        gf = s["median"] * flops["train"] / 1e9
        out[name] = {"samples_per_s": s, "gflops": gf, "of_peak": gf / peak}
    if compiled is not None:
        gf = compiled["samples_per_s"]["median"] * flops["train"] / 1e9
        out["batch 128 torch.compile"] = {**compiled, "gflops": gf, "of_peak": gf / peak}
    else:
        out["batch 128 torch.compile"] = {"failed": True}
    flops["flop_counter_without_lstm"] = counted_flops()  # check: hand count less the LSTM, 3x the head
    flops["hand_without_lstm"] = flops["train"] - 3 * flops["lstm_fwd"]
    save("compute", "cnn_rnn", {"flops_per_sample": flops, "matmul_peak_gflops": spread(peaks), "variants": out}, quick)
