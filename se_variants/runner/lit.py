"""The LightningModule: a classifier around any model, with torchmetrics accuracy and the configured optimizer
and schedule."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from .optim import OPTIM, SCHEDULE

__all__ = ["Classifier"]


class Classifier(L.LightningModule):
    """Cross-entropy training of ``model``; logs ``{train,val,test}/loss`` and ``{train,val,test}/acc`` per epoch.

    Args:
        model: (N, C, H, W) → logits (N, num_classes).
        num_classes: K.
        optim, schedule: ``optim:`` / ``schedule:`` config nodes (plain dicts with ``name``).
        epochs: the run's max_epochs (the schedule's horizon).
        hparams: the run's resolved config as plain values (saved in checkpoints; never a DictConfig, so
            checkpoints load with torch.load's weights-only default).
    """

    def __init__(self, model: nn.Module, num_classes: int, optim: dict[str, Any], schedule: dict[str, Any],
                 epochs: int, hparams: dict[str, Any] | None = None):
        super().__init__()
        self.model = model
        self.optim_spec = dict(optim)
        self.schedule_spec = dict(schedule)
        self.epochs = epochs
        self.save_hyperparameters(hparams or {})
        self.acc = nn.ModuleDict({f"{s}_acc": MulticlassAccuracy(num_classes, average="micro") for s in ("train", "val", "test")})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.acc[f"{stage}_acc"](logits, y)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=on_step, batch_size=len(y))
        self.log(f"{stage}/acc", self.acc[f"{stage}_acc"], on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        optimizer = OPTIM.build(self.optim_spec, self.parameters())
        scheduler = SCHEDULE.build(self.schedule_spec, optimizer, self.epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
