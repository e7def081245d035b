"""Lightning pieces of a job: the classifier module, and the callback that makes a job exactly resumable.

Exact resume (on CPU: a job killed after epoch k and resumed gives the metrics of an uninterrupted run, bit for
bit) rests on three things:

* every epoch's randomness (augmentation, dropout, DataLoader worker seeds) comes from RNGs reseeded at the start
  of the epoch from (run seed, epoch, rank), and the training order from a sampler seeded the same way
  (``data.base.EpochSampler``), so nothing depends on how many random numbers earlier epochs drew;
* ``checkpoints/last.ckpt`` is written at the end of each epoch -- after validation and after the epoch-interval
  LR schedule stepped, when model, optimizer, schedule and loop state all describe one finished epoch --
  atomically (temporary file and ``os.replace``), so a kill never leaves half a file;
* the per-epoch metrics live in the checkpoint too, so a job killed after its last epoch (before its record was
  final) still reports the train and validation metrics of that epoch.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Checkpoint
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from .data.base import derive_seed
from .optim import OPTIM, SCHEDULE

__all__ = ["Classifier", "RunState", "STAGES"]

STAGES = ("train", "val", "test")


class Classifier(L.LightningModule):
    """Cross-entropy training of ``model``; logs ``{stage}/loss``, ``{stage}/acc`` and ``{stage}/n`` (samples
    seen, summed over DDP ranks) once per epoch, and keeps the test confusion matrix.

    Args:
        model: (N, C, *spatial) → logits (N, num_classes).
        num_classes: K.
        optim, schedule: ``optim:`` / ``schedule:`` config nodes (plain dicts with ``name``).
        epochs: the run's max_epochs (the schedule's horizon).
        hparams: the run's resolved config as plain values (saved in checkpoints; never a DictConfig, so
            checkpoints load with ``torch.load(..., weights_only=True)``).
    """

    def __init__(self, model: nn.Module, num_classes: int, optim: dict[str, Any], schedule: dict[str, Any],
                 epochs: int, hparams: dict[str, Any] | None = None):
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.optim_spec = dict(optim)
        self.schedule_spec = dict(schedule)
        self.epochs = epochs
        self.save_hyperparameters(hparams or {})
        self._make_metrics()

    def _make_metrics(self) -> None:
        # keyed "<stage>_<what>": a ModuleDict key "train" would shadow Module.train
        self.stage_metrics = nn.ModuleDict({
            **{f"{s}_acc": MulticlassAccuracy(self.num_classes, average="micro") for s in STAGES},
            **{f"{s}_{what}": SumMetric() for s in STAGES for what in ("loss", "n")},
        })
        self.confusion = MulticlassConfusionMatrix(self.num_classes)

    def setup(self, stage: str) -> None:
        # Fresh metric states in every process: with spawned DDP ranks on CPU, states built before the spawn live
        # in shared memory and every rank would add into the same tensors (each sample counted world-size times).
        self._make_metrics()
        self.to(self.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        m = self.stage_metrics
        m[f"{stage}_acc"].update(logits, y)
        m[f"{stage}_loss"].update(loss.detach() * len(y))
        m[f"{stage}_n"].update(torch.tensor(float(len(y)), device=logits.device))
        if stage == "test":
            self.confusion.update(logits, y)
        return loss

    def _log_epoch(self, stage: str) -> None:
        """``<stage>/loss`` (mean over the epoch's samples), ``<stage>/acc`` and ``<stage>/n`` (samples), each summed
        over DDP ranks before dividing, logged once an epoch (a log call per step costs as much as a step of a
        small model)."""
        m = self.stage_metrics
        n = m[f"{stage}_n"].compute()
        values = {"loss": m[f"{stage}_loss"].compute() / n.clamp(min=1), "acc": m[f"{stage}_acc"].compute(), "n": n}
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name != "n")
        for what in ("acc", "loss", "n"):
            m[f"{stage}_{what}"].reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
        self.test_confusion = self.confusion.compute().cpu()
        self.confusion.reset()

    def configure_optimizers(self) -> Any:
        optimizer = OPTIM.build(self.optim_spec, self.parameters())
        scheduler = SCHEDULE.build(self.schedule_spec, optimizer, self.epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def per_class(confusion: torch.Tensor) -> dict[str, Any]:
    """Per-class test accuracy (recall: correct ÷ samples of the class; None for a class with no samples), the
    support of each class and the confusion matrix (rows: true class, columns: predicted), from a (K, K) matrix."""
    cm = confusion.long()
    support = cm.sum(1)
    acc = [float(cm[k, k] / support[k]) if support[k] else None for k in range(len(cm))]
    return {"acc": acc, "support": support.tolist(), "confusion": cm.tolist()}


class RunState(Checkpoint):
    """Reseeds every epoch, writes ``last.ckpt`` after every epoch, and keeps the per-epoch metric history.

    Args:
        seed: the run's seed.
        ckpt_path: where ``last.ckpt`` goes.
        config_hash: the job's config hash, stored in the checkpoint (a resume refuses a checkpoint of another
            config).

    A :class:`~lightning.pytorch.callbacks.Checkpoint` (it writes the checkpoint), so Lightning calls its epoch-end
    hook after the LightningModule's, whose logged values (the epoch's sample counts) it records. Under DDP this
    object lives in every rank; the launching process reads the history back from last.ckpt.
    """

    def __init__(self, seed: int, ckpt_path: Path, config_hash: str):
        self.seed = seed
        self.ckpt_path = Path(ckpt_path)
        self.config_hash = config_hash
        self.history: list[dict[str, float]] = []

    @property
    def state_key(self) -> str:
        return "se_variants.RunState"

    def state_dict(self) -> dict[str, Any]:
        return {"config_hash": self.config_hash, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state.get("history", []))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = derive_seed(self.seed, trainer.current_epoch, trainer.global_rank, 0xE90C)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # validation has run and the epoch-interval LR schedule has stepped (Lightning steps it after the last
        # batch): this is the state an uninterrupted run carries into the next epoch
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.split("/")[0] in ("train", "val")}
        self.history.append({"epoch": trainer.current_epoch, **metrics})
        tmp = self.ckpt_path.with_name(f".{self.ckpt_path.name}.{os.getpid()}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # the full state; every rank takes part, rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, self.ckpt_path)
        trainer.strategy.barrier("se_variants.last_ckpt")

    @staticmethod
    def final_metrics(history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        """``{"train": {...}, "val": {...}}`` of the last finished epoch of ``history``."""
        out: dict[str, dict[str, float]] = {}
        for key, value in (history[-1] if history else {}).items():
            stage, _, name = key.partition("/")
            if name:
                out.setdefault(stage, {})[name] = value
        return out
