"""Speed benchmarks of issue 7: framework overhead, compute, evaluation, start-up, time to accuracy, data.

    .venv/bin/python experiments/bench.py SECTION [SECTION ...] [--quick]     (make bench: each section in its own process)

Sections: overhead (plain loop vs bare LightningModule vs fwtk_lab, cnn_rnn and rnn), compute (FLOPs,
GFLOP/s against the 1-thread matmul peak, variants), eval (test split images/s vs training samples/s),
startup (command to first training step), tta (time to accuracy, real training runs), data (dataset
build vs the original's naive renderer). Each section stores its numbers in experiments/bench_results.json
and experiments/bench.md is rewritten from that file, so sections can be rerun one at a time.
Ratios are measured in one process, the settings alternating in rounds; figures are medians with
[min-max] over the rounds. --quick: tiny budgets (a smoke test of the script, numbers meaningless).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fwtk_lab  # noqa: E402,F401  (first: OMP_WAIT_POLICY before torch starts OpenMP)

logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)  # no "GPU available" etc. per Trainer
logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="pytorch_lightning")
RESULTS = HERE / "bench_results.json"
REPORT = HERE / "bench.md"
BATCH = 128
QUICK = False


# ----------------------------------------------------------------------------------------------- helpers
def spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "all": xs}


def fmt(s: dict, digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}-{s['max']:,.{digits}f}]"


def conditions() -> dict:
    load = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_1min": round(load[0], 2),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "quick": QUICK,
    }


def save(section: str, key: str, value: dict) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault(section, {})[key] = {**value, "conditions": conditions()}
    if not QUICK:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        REPORT.write_text(render(results))
    print(json.dumps({section: {key: {k: v for k, v in value.items() if k != "all"}}}, default=str)[:8000])


def compose(overrides: list[str], tmp: Path):
    """The train config as the command composes it, with outputs in tmp and the worktree's data cache."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from fwtk_lab.core.config import CONF_DIR, validate
    from fwtk_lab.training import identity

    identity.register()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = hydra_compose(
            "train",
            overrides=[f"paths.output_dir={tmp / 'outputs'}", f"paths.run_dir={tmp / 'run'}", "threads=1", *overrides],
        )
    validate(cfg)
    return cfg


def default_store():
    """The default dataset (var_jitter, five fonts), built if absent, and its split rows."""
    from fwtk_lab.data.datamodule import FontDataModule

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([], Path(tmp))
    dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
    dm.setup("fit")
    return dm


# ------------------------------------------------------------------------------------ framework overhead
def make_encoder(model: str, seed: int = 0):
    from fwtk_lab.training.module import FontClassifier

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([f"model={model}"], Path(tmp))
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    return FontClassifier(OmegaConf.to_container(cfg, resolve=True), ["a", "b", "c", "d", "e"], (16, 64))


def plain_loop(model: str, images: torch.Tensor, labels: torch.Tensor, warm: int, steps: int, lr: float) -> float:
    """A plain PyTorch loop: permuted in-memory batches, scale, slice, forward, loss, backward, Adam."""
    clf = make_encoder(model)
    slicer, enc = clf.slicer, clf.encoder
    enc.train()
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    t0 = 0.0
    for i in range(warm + steps):
        if i == warm:
            t0 = time.perf_counter()
        idx = order[(i * BATCH) % (len(images) - BATCH) :][:BATCH]
        x = images[idx].float().div_(255)
        loss = F.cross_entropy(enc(slicer(x)), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - t0)


class Window:
    """A Lightning callback timing `steps` training batches after `warm` ones, then stopping the fit."""

    def __new__(cls, *args, **kwargs):
        import pytorch_lightning as pl

        class _Window(pl.Callback):
            def __init__(self, warm: int, steps: int):
                self.warm, self.steps, self.t0, self.rate = warm, steps, 0.0, None

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if batch_idx == self.warm - 1:
                    self.t0 = time.perf_counter()
                elif batch_idx == self.warm + self.steps - 1:
                    self.rate = self.steps * BATCH / (time.perf_counter() - self.t0)
                    trainer.should_stop = True

        return _Window(*args, **kwargs)


def bare_lightning(
    model: str, images: torch.Tensor, labels: torch.Tensor, warm: int, steps: int, lr: float, manual: bool = False
) -> float:
    """A bare LightningModule: the plain loop's step in training_step; no metrics, logging or callbacks.

    manual: Lightning's manual optimization (zero_grad, manual_backward, step in training_step), no closure.
    """
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    clf = make_encoder(model)

    class Bare(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.slicer, self.encoder = clf.slicer, clf.encoder
            self.automatic_optimization = not manual

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.encoder(self.slicer(x.float().div_(255))), y)
            if manual:
                opt = self.optimizers()
                opt.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                opt.step()
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr)

    class Batches(torch.utils.data.Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, idx):
            return images[idx], labels[idx]

    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    batches = [order[i : i + BATCH] for i in range(0, len(order) - BATCH + 1, BATCH)]
    loader = DataLoader(Batches(), batch_size=None, sampler=batches)
    window = Window(warm, steps)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=100,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[window],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(Bare(), loader)
    return window.rate


def manual_classifier():
    """FontClassifier with Lightning's manual optimization (no scheduler stepping: a measurement, not a product)."""
    from fwtk_lab.training.module import FontClassifier

    class ManualFontClassifier(FontClassifier):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            opt = self.optimizers()
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
            return loss

    return ManualFontClassifier


def ours(model: str, overrides: list[str], warm: int, steps: int, dm=None, manual: bool = False) -> float:
    """fwtk_lab's path: FontClassifier + FontDataModule + the Trainer of `fwtk_lab.train` (its callbacks, logger)."""
    from omegaconf import OmegaConf

    from fwtk_lab.data.datamodule import FontDataModule
    from fwtk_lab.runs.trainer import build_trainer
    from fwtk_lab.training.module import FontClassifier

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([f"model={model}", f"data.batch_size={BATCH}", *overrides], Path(tmp))
        if dm is None:
            dm = FontDataModule(cfg.dataset, cfg.data, cfg.paths.data_dir, seed=cfg.seed)
            dm.setup("fit")
        dm.data_cfg = cfg.data
        torch.manual_seed(0)
        cls = manual_classifier() if manual else FontClassifier
        clf = cls(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
        trainer = build_trainer(cfg)
        window = Window(warm, steps)
        trainer.callbacks.append(window)
        with contextlib.redirect_stdout(open(os.devnull, "w")), contextlib.chdir(tmp):  # callbacks=none: Lightning's
            trainer.fit(clf, datamodule=dm)  # default ModelCheckpoint writes into the working directory
        return window.rate


OURS_VARIANTS = {  # name -> overrides: where the time of our path goes
    "ours": [],
    "ours_no_bar": ["trainer.enable_progress_bar=false"],
    "ours_lean": [
        "callbacks=none",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "checkpoint.every_n_steps=null",
    ],
}


def overhead(model: str, rounds: int = 5) -> None:
    dm = default_store()
    rows = dm.rows["train"]
    n = min(len(rows), (60 if QUICK else 400) * BATCH)
    sel = np.sort(rows[:n])
    images = torch.from_numpy(np.ascontiguousarray(dm.store.images[sel]))[:, None]
    labels = torch.from_numpy(np.ascontiguousarray(dm.store.labels[sel]))
    torch.set_num_threads(1)
    lr = 0.003
    warm = 5 if QUICK else 30
    steps = 20 if QUICK else (150 if model.startswith("cnn") else 300)
    rates: dict[str, list[float]] = {
        "plain": [],
        "bare_lightning": [],
        "bare_lightning_manual": [],
        **{k: [] for k in OURS_VARIANTS},
        "ours_manual": [],
    }
    for _ in range(2 if QUICK else rounds):
        rates["plain"].append(plain_loop(model, images, labels, warm, steps, lr))
        rates["bare_lightning"].append(bare_lightning(model, images, labels, warm, steps, lr))
        rates["bare_lightning_manual"].append(bare_lightning(model, images, labels, warm, steps, lr, manual=True))
        for name, over in OURS_VARIANTS.items():
            rates[name].append(ours(model, over, warm, steps, dm))
        rates["ours_manual"].append(ours(model, [], warm, steps, dm, manual=True))
    out = {k: spread(v) for k, v in rates.items()}
    ratios = {k: spread([a / b for a, b in zip(v, rates["plain"])]) for k, v in rates.items() if k != "plain"}
    save(
        "overhead",
        model,
        {
            "samples_per_s": out,
            "ratio_to_plain": ratios,
            "batch": BATCH,
            "threads": 1,
            "warm_steps": warm,
            "steps": steps,
        },
    )


# ------------------------------------------------------------------------------------------------ compute
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
    from torch.utils.flop_counter import FlopCounterMode

    clf = make_encoder(model)
    x = torch.rand(1, 1, 16, 64)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(clf(x), torch.zeros(1, dtype=torch.long)).backward()
    return int(counter.get_total_flops())


def eager_rate(
    model: str, batch: int, steps: int, channels_last: bool = False, compiled: bool = False, threads: int = 1
) -> float:
    torch.set_num_threads(threads)
    clf = make_encoder(model)
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


def compute(rounds: int = 3) -> None:
    flops = cnn_rnn_flops()
    torch.set_num_threads(1)
    steps = 10 if QUICK else 60
    variants = {
        "batch 128": dict(batch=128),
        "batch 256": dict(batch=256),
        "batch 512": dict(batch=512),
        "batch 128 channels_last": dict(batch=128, channels_last=True),
        "batch 128, 2 threads": dict(batch=128, threads=2),
        "batch 512, 2 threads": dict(batch=512, threads=2),
    }
    rates: dict[str, list[float]] = {k: [] for k in variants}
    peaks: list[float] = []
    for _ in range(1 if QUICK else rounds):
        peaks.append(matmul_peak(256 if QUICK else 512, 3 if QUICK else 20))
        for name, kw in variants.items():
            rates[name].append(eager_rate("cnn_rnn", steps=steps * 128 // kw["batch"] + 2, **kw))
    compiled = None
    with contextlib.suppress(Exception):  # torch.compile needs a C compiler; a failure is recorded, not fatal
        t0 = time.perf_counter()
        eager_rate("cnn_rnn", 128, 2, compiled=True)
        compile_s = time.perf_counter() - t0
        compiled = {
            "samples_per_s": spread(
                [eager_rate("cnn_rnn", 128, steps, compiled=True) for _ in range(1 if QUICK else rounds)]
            ),
            "compile_seconds": compile_s,
        }
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
    save("compute", "cnn_rnn", {"flops_per_sample": flops, "matmul_peak_gflops": spread(peaks), "variants": out})


# --------------------------------------------------------------------------------------------- evaluation
class EpochTimer:
    """A Lightning callback: seconds of the test epoch loop (first batch to last; not the figures drawn after)."""

    def __new__(cls):
        import pytorch_lightning as pl

        class _EpochTimer(pl.Callback):
            seconds = 0.0

            def on_test_epoch_start(self, trainer, pl_module):
                self.t0 = time.perf_counter()

            def on_test_epoch_end(self, trainer, pl_module):
                self.seconds = time.perf_counter() - self.t0

        return _EpochTimer()


def evaluation(model: str = "cnn_rnn", rounds: int = 3) -> None:
    """Images/s of testing the test split with fwtk_lab's Trainer vs its training samples/s (same process)."""
    from omegaconf import OmegaConf

    from fwtk_lab.runs.trainer import build_trainer
    from fwtk_lab.training.module import FontClassifier

    dm = default_store()
    n_test = len(dm.rows["test"])
    test_rates, train_rates, whole = [], [], []
    for _ in range(1 if QUICK else rounds):
        with tempfile.TemporaryDirectory() as tmp:
            over = [f"model={model}", "trainer.enable_progress_bar=false"]
            if QUICK:
                over.append("trainer.limit_test_batches=3")
            cfg = compose(over, Path(tmp))
            clf = FontClassifier(OmegaConf.to_container(cfg, resolve=True), dm.classes, dm.image_shape)
            trainer = build_trainer(cfg)
            loop = EpochTimer()
            trainer.callbacks.append(loop)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                trainer.test(clf, datamodule=dm)
            whole.append(time.perf_counter() - t0)
            seen = n_test if not QUICK else 3 * cfg.data.eval_batch_size
            test_rates.append(seen / loop.seconds)
        train_rates.append(ours(model, [], 5 if QUICK else 30, 20 if QUICK else 150, dm))
    ratio = spread([a / b for a, b in zip(test_rates, train_rates)])
    save(
        "eval",
        model,
        {
            "test_images": n_test,
            "test_images_per_s": spread(test_rates),
            "test_seconds": spread(whole),
            "train_samples_per_s": spread(train_rates),
            "ratio": ratio,
        },
    )


# ---------------------------------------------------------------------------------------------- start-up
FIRST_STEP_ENV = "FWTK_BENCH_FIRST_STEP"


def startup(rounds: int = 5) -> None:
    """Wall seconds from starting `python -m fwtk_lab.train trainer=debug` to its first training step (warm cache)."""
    default_store()  # the cache is built and verified (warm)
    secs, totals = [], []
    for _ in range(1 if QUICK else rounds):
        with tempfile.TemporaryDirectory() as tmp:
            stamp = Path(tmp) / "first_step"
            cmd = [
                sys.executable,
                "-m",
                "fwtk_lab.train",
                "trainer=debug",
                "resume=never",
                "+callbacks.first_step._target_=bench_callbacks.FirstStep",
                f"+callbacks.first_step.path={stamp}",
                f"hydra.run.dir={tmp}/run",
            ]
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            }
            t0 = time.time()
            subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            totals.append(time.time() - t0)
            secs.append(float(stamp.read_text()) - t0)
    imports = {}  # the floor: what importing the libraries alone costs, each in a fresh process
    for mod in ("torch", "torchmetrics", "pytorch_lightning", "fwtk_lab.train"):
        times = []
        for _ in range(1 if QUICK else 3):
            t0 = time.time()
            subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, cwd=ROOT, env=env)
            times.append(time.time() - t0)
        imports[mod] = spread(times)
    save(
        "startup",
        "trainer=debug",
        {
            "first_step_seconds": spread(secs),
            "total_seconds": spread(totals),
            "import_seconds": imports,
            "command": "python -m fwtk_lab.train trainer=debug",
        },
    )


# -------------------------------------------------------------------------------------- time to accuracy
TTA = {  # model -> the settings found (see bench.md), the target accuracy and training-seconds budget
    # lr 0.01 (Adam) decayed to 0 by a per-step cosine over the whole run (T_max = epochs x 1,728 steps of 128)
    "cnn_rnn": (
        [
            "model=cnn_rnn",
            "optimizer.lr=0.01",
            "scheduler=cosine",
            "scheduler.interval=step",
            "scheduler.T_max=3456",
            "trainer.max_epochs=2",  # 1 epoch (T_max=1728) reached 99.08% in 15 s on the current recipe
        ],
        0.995,
        60,
    ),
    "cnn_rnn_small": (
        [
            "model=cnn_rnn_small",
            "optimizer.lr=0.01",
            "scheduler=cosine",
            "scheduler.interval=step",
            "scheduler.T_max=3456",
            "trainer.max_epochs=2",
        ],
        0.99,
        120,
    ),
}


def tta(model: str) -> None:
    over, target, budget = TTA[model]
    if QUICK:
        over = [*over, "dataset.max_phrases=300", "trainer.max_epochs=1"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "fwtk_lab.train",
            *over,
            "resume=never",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp}/run",
            f"paths.data_dir={ROOT / 'data'}",
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    save(
        "tta",
        model,
        {
            "command": "python -m fwtk_lab.train " + " ".join(over),
            "test_acc": m["test/acc"],
            "fit_seconds": m["fit_seconds"],
            "epochs": m["epochs"],
            "target_acc": target,
            "budget_seconds": budget,
            "met": bool(m["test/acc"] >= target and m["fit_seconds"] <= budget),
        },
    )


# ------------------------------------------------------------------------------------------------- data
def data(n_phrases: int = 3000, rounds: int = 3) -> None:
    """Images/s of the builder's renderer vs the original's naive loop on the same phrases (1 process each)."""
    from naive_render import naive_images

    from fwtk_lab.data import dataset as dataset_lib
    from fwtk_lab.data import fonts as fontlib

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([], Path(tmp))
    fonts = [f.path for f in fontlib.resolve(list(cfg.dataset.fonts))]
    phrases, _ = dataset_lib.select_phrases(cfg.dataset)
    rng = np.random.default_rng(0)
    n_phrases = 100 if QUICK else n_phrases
    phrases = [phrases[i] for i in np.sort(rng.choice(len(phrases), n_phrases, replace=False))]
    recipe = dataset_lib.recipe_of(cfg.dataset)
    n = len(phrases) * len(fonts)
    ours_1, ours_all, naive = [], [], []
    workers = os.cpu_count() or 1
    for _ in range(1 if QUICK else rounds):
        t0 = time.perf_counter()
        naive_images(phrases, fonts, jitter=tuple(cfg.dataset.jitter), seed=0)
        naive.append(n / (time.perf_counter() - t0))
        for w, out in ((1, ours_1), (workers, ours_all)):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "images.npy"
                np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, recipe.height, recipe.width))
                t0 = time.perf_counter()
                with (
                    contextlib.redirect_stdout(open(os.devnull, "w")),
                    contextlib.redirect_stderr(open(os.devnull, "w")),
                ):
                    dataset_lib.render_all(path, fonts, recipe, phrases, 0, w)
                out.append(n / (time.perf_counter() - t0))
    save(
        "data",
        "var_jitter",
        {
            "images": n,
            "naive_images_per_s": spread(naive),
            "builder_1_process": spread(ours_1),
            f"builder_{workers}_processes": spread(ours_all),
            "workers": workers,
            "ratio_1_process": spread([a / b for a, b in zip(ours_1, naive)]),
            "ratio_all_processes": spread([a / b for a, b in zip(ours_all, naive)]),
        },
    )


# ------------------------------------------------------------------------------------------------- report
def render(results: dict) -> str:
    from bench_report import render as _render

    return _render(results)


SECTIONS = {
    "overhead": lambda: [overhead("cnn_rnn"), overhead("rnn")],
    "overhead_cnn_rnn": lambda: overhead("cnn_rnn"),
    "overhead_rnn": lambda: overhead("rnn"),
    "compute": compute,
    "eval": evaluation,
    "startup": startup,
    "tta": lambda: [tta("cnn_rnn"), tta("cnn_rnn_small")],
    "tta_cnn_rnn": lambda: tta("cnn_rnn"),
    "tta_cnn_rnn_small": lambda: tta("cnn_rnn_small"),
    "data": data,
}


def main() -> None:
    global QUICK
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "sections",
        nargs="*",
        default=["overhead", "compute", "eval", "startup", "data", "tta"],
        help=f"any of {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test, results not saved")
    args = p.parse_args()
    QUICK = args.quick
    bad = [s for s in args.sections if s not in SECTIONS]
    if bad:
        p.exit(2, f"error: unknown section {bad[0]!r}; accepted: {', '.join(SECTIONS)}\n")
    failed = []
    for s in args.sections:
        try:
            SECTIONS[s]()
        except Exception:  # one broken section does not lose the others' measurements
            traceback.print_exc()
            failed.append(s)
    if failed:
        sys.exit(f"error: sections failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
