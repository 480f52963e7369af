"""The LightningModule: slicer -> encoder -> logits, cross-entropy, torchmetrics, figures for TensorBoard."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchmetrics import MeanMetric, MetricCollection, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from fwtk_lab.core.errors import ResumeError
from fwtk_lab.models import build
from fwtk_lab.training.calibration import Calibration, ece, fit_temperature
from fwtk_lab.training.losses import get as get_loss
from fwtk_lab.training.totals import TrainTotals, from_legacy

STAGES = ("val", "test")  # with torchmetrics; training keeps its sums in TrainTotals
# Evaluation metrics' states, which checkpoints held until 2026-12-05: an evaluation never spans a checkpoint
# (each starts empty), and copying them took 2.4 ms of each save.
EVALUATION_STATES = ("metrics.", "losses.", "per_font.", "confusion.", "test_nll.")


def key(stage: str) -> str:
    """ModuleDict key of a stage ("train" itself would clash with nn.Module.train)."""
    return stage.upper()


class FontClassifier(pl.LightningModule):
    """Built from the run's resolved config (kept in the checkpoint), the class names and the image shape."""

    def __init__(self, cfg: dict, classes: list[str], image_shape: tuple[int, int]):
        super().__init__()
        self.save_hyperparameters(logger=False)  # hparams go to TensorBoard once, with final metrics
        self.cfg = OmegaConf.create(cfg)
        self.classes = list(classes)
        self.slicer, self.encoder = build.build_slicer_and_encoder(self.cfg, len(self.classes), image_shape)
        n = len(self.classes)
        self.train_totals = TrainTotals()  # the training loss and accuracy: on the device, no sync a step
        self.metrics = torch.nn.ModuleDict(
            {key(s): MetricCollection({"acc": MulticlassAccuracy(n, average="micro")}, prefix=f"{s}/") for s in STAGES}
        )
        self.losses = torch.nn.ModuleDict({key(stage): MeanMetric() for stage in STAGES})
        self.per_font = torch.nn.ModuleDict({key(s): MulticlassAccuracy(n, average=None) for s in ("val", "test")})
        self.confusion = MulticlassConfusionMatrix(n)
        self.test_nll = SumMetric().set_dtype(torch.float64)  # summed negative log-likelihood, for the AIC
        # an evaluation's logits, for the temperature and the calibration error (never checkpointed: refilled)
        self.calibration = torch.nn.ModuleDict({key(s): Calibration() for s in ("val", "test")})
        self.temperature = 1.0  # fitted on the validation split at every validation; kept in checkpoints
        self.unknown_threshold: float | None = None  # set by `python -m fwtk_lab.calibrate` (held-out fonts)
        self.loss = get_loss(self.cfg.get("loss", "ce"))  # ce, or keras_sigmoid_ce (the series' defect)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Float images (B, 1, H, W) in [0, 1] -> logits (B, classes) (in chunks on the CPU: models/build.py)."""
        return build.logits(self.slicer, self.encoder, images)

    def step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = self.loss(logits, labels)
        self.losses[key(stage)].update(loss.detach(), weight=labels.numel())
        self.metrics[key(stage)].update(logits.detach(), labels)
        if key(stage) in self.per_font:
            self.per_font[key(stage)].update(logits.detach(), labels)
            self.calibration[key(stage)].update(logits, labels)
        if stage == "test":
            self.confusion.update(logits.detach(), labels)
            self.test_nll.update(self.loss(logits.detach().double(), labels, reduction="sum"))
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = self.loss(logits, labels)
        self.train_totals.update(loss, logits, labels, self.global_step)
        if self.logging_step():  # these steps read the device anyway: the losses since the last are checked
            self.train_totals.check()
            self.log_step({"train/loss_step": loss})
        return loss

    def log_step(self, values: dict[str, torch.Tensor]) -> None:
        """This step's values, read once, to the loggers and the progress bar (as Lightning's ThroughputMonitor logs
        its own). `self.log` would keep them in Lightning's results, which read them back at every later step of
        the epoch for the bar: 10-20 us a step here, and on a GPU a host sync every step."""
        trainer = self._trainer
        if trainer is None:
            return
        values = {name: float(v.detach()) for name, v in values.items()}
        trainer.progress_bar_metrics.update(values)  # the dict the bars read
        trainer._logger_connector.log_metrics(values)  # at this step's logging step number, with the epoch

    def logging_step(self) -> bool:
        """Whether this training step's logged values reach the loggers (every trainer.log_every_n_steps): only
        these steps read the loss from the device and log it (log_step)."""
        trainer = self._trainer
        return trainer is None or bool(trainer.fast_dev_run) or trainer._logger_connector.should_update_logs

    def validation_step(self, batch, batch_idx: int) -> None:
        self.step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self.step(batch, "test")

    def end_train_epoch(self) -> None:
        self.train_totals.check()
        loss, acc = self.train_totals.compute(lambda t: self.trainer.strategy.reduce(t, reduce_op="sum"))
        self.log("train/loss", loss)
        self.log("train/acc", acc, prog_bar=True)
        self.train_totals.reset()

    def end_epoch(self, stage: str) -> None:
        self.log(f"{stage}/loss", self.losses[key(stage)].compute(), prog_bar=stage != "train")
        self.log_dict(self.metrics[key(stage)].compute(), prog_bar=True)
        self.losses[key(stage)].reset()
        self.metrics[key(stage)].reset()
        if key(stage) in self.per_font:
            for name, acc in zip(self.classes, self.per_font[key(stage)].compute()):
                self.log(f"{stage}/acc_font/{name}", acc)
            self.per_font[key(stage)].reset()

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """An epoch's first batch starts empty train metrics. An epoch-end checkpoint is written before
        on_train_epoch_end resets them; a run resumed inside an epoch starts at a later batch and keeps the
        checkpointed partial states."""
        if batch_idx == 0:
            self.train_totals.reset()

    def on_train_epoch_end(self) -> None:
        self.end_train_epoch()

    def on_validation_epoch_start(self) -> None:
        self.train_totals.check()  # no validation (and no best checkpoint) of non-finite weights

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.end_epoch("val")
            self.calibrate()
        else:
            for m in (self.losses["VAL"], self.metrics["VAL"], self.per_font["VAL"], self.calibration["VAL"]):
                m.reset()

    def calibrate(self) -> None:
        """Fit the temperature on this validation's logits; log the calibration error before and after."""
        loss, logits, labels = self.drain("val")
        self.temperature = fit_temperature(loss, logits, labels)
        self.log_calibration("val", loss, logits, labels)

    def drain(self, stage: str) -> tuple[str, torch.Tensor, torch.Tensor]:
        """The loss's name and this evaluation's logits and labels (all ranks, on the CPU); the store empties."""
        logits, labels = self.calibration[key(stage)].compute()
        self.calibration[key(stage)].reset()
        return self.cfg.get("loss", "ce"), logits.cpu(), labels.cpu()

    def log_calibration(self, stage: str, loss: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.log(f"{stage}/temperature", self.temperature)
        self.log(f"{stage}/ece", ece(loss, logits, labels))
        self.log(f"{stage}/ece_calibrated", ece(loss, logits, labels, self.temperature))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.train_totals.check()  # no checkpoint holds weights trained on a non-finite loss
        checkpoint["calibration"] = {"temperature": self.temperature, "unknown_threshold": self.unknown_threshold}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict", {})
        from_legacy(state, "train_totals.")  # a run checkpointed before TrainTotals
        for k in [k for k in state if k.startswith(EVALUATION_STATES)]:
            del state[k]
        saved = checkpoint.get("calibration") or {}
        self.temperature = float(saved.get("temperature", 1.0))
        threshold = saved.get("unknown_threshold")
        self.unknown_threshold = None if threshold is None else float(threshold)

    def on_test_epoch_start(self) -> None:
        self.confusion.reset()
        self.test_nll.reset()
        self.calibration["TEST"].reset()

    def on_test_epoch_end(self) -> None:
        self.end_epoch("test")
        self.log_calibration("test", *self.drain("test"))
        k = self.num_parameters
        nll = float(self.test_nll.compute())
        self.log("test/params", float(k))
        self.log("test/nll_sum", nll)
        self.log("test/aic", 2 * k + 2 * nll)  # AIC = 2k - 2 ln L, ln L summed over the test split

    def confusion_matrix(self) -> torch.Tensor:
        return self.confusion.compute().cpu()

    def run_length(self, interval: str) -> int:
        """Optimizer steps (interval=step) or epochs of the whole run; 1 before a Trainer is attached (preflight)."""
        if self._trainer is None:
            return 1
        steps = self.trainer.estimated_stepping_batches if interval == "step" else self.trainer.max_epochs
        return max(1, int(steps))

    def on_train_start(self) -> None:
        """A cosine over the whole run (T_max null) restored from a run of another length would climb back up
        after its end: refuse to resume it with a changed trainer.max_epochs (as `cosine` is, by its hash)."""
        sched_cfg = self.cfg.get("scheduler") or {}
        if "T_max" not in sched_cfg or sched_cfg.T_max is not None:
            return
        planned = self.run_length(sched_cfg.get("interval", "epoch"))
        for config in self.trainer.lr_scheduler_configs:
            if config.scheduler.T_max != planned:
                raise ResumeError(
                    f"scheduler.T_max: null runs the cosine over the whole run, which the checkpoint planned over "
                    f"{config.scheduler.T_max} {config.interval}s and this command over {planned}: rerun with the "
                    f"trainer.max_epochs it was started with, or resume=never for a new run"
                )

    def configure_optimizers(self) -> dict:
        optimizer = instantiate(self.cfg.optimizer)(params=self.parameters())
        sched_cfg = self.cfg.get("scheduler")
        if not sched_cfg or not sched_cfg.get("_target_"):
            return {"optimizer": optimizer}
        sched_cfg = OmegaConf.to_container(sched_cfg, resolve=True)
        interval = sched_cfg.pop("interval", "epoch")
        if "T_max" in sched_cfg and sched_cfg["T_max"] is None:  # cosine over the whole run
            sched_cfg["T_max"] = self.run_length(interval)
        scheduler = instantiate(sched_cfg)(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
