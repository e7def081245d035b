"""Lightning pieces of a job: the classifier module, its data module, and the callback that makes a job exactly
resumable.

Exact resume (on CPU: a job killed after epoch k and resumed gives the metrics of an uninterrupted run, bit for
bit) rests on three things:

* every epoch's randomness (augmentation, dropout, DataLoader worker seeds) comes from RNGs reseeded at the start
  of the epoch from (run seed, epoch, rank), and the training order from a sampler seeded the same way
  (``data.base.EpochSampler``), so nothing depends on how many random numbers earlier epochs drew;
* ``checkpoints/last.ckpt`` is written at the end of an epoch -- after validation and after the epoch-interval
  LR schedule stepped, when model, optimizer, schedule and loop state all describe one finished epoch --
  atomically (temporary file and ``os.replace``), so a kill never leaves half a file. A plateau schedule
  (``ReduceLROnPlateau``, fed the epoch's training loss) is stepped by :class:`Classifier` itself in its epoch-end
  hook, which Lightning runs before the checkpoint's: Lightning would step it after the checkpoint was written,
  and a resumed job would then miss that step. Its state is saved in the checkpoint by the module;
* the per-epoch metrics live in the checkpoint too, so a job killed after its last epoch (before its record was
  final) still reports the train and validation metrics of that epoch; so do the weights of the epoch with the
  lowest training loss (``trainer.select=min_train_loss``), which the job tests once at the end.

Metrics are three running sums per stage (loss × samples, correct predictions, samples) in one tensor, summed
over DDP ranks once per epoch: a step costs one tensor addition, and every sample counts once.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from .checkpoints import PLATEAU_KEY, RUN_STATE_KEY
from .files import write_json
from .data.base import EpochSampler, SeededItems, ShardSampler, Splits, derive_seed
from .optim import OPTIM, SCHEDULE

__all__ = ["Classifier", "ImageData", "RunState", "TrackerLogger", "STAGES", "per_class"]

STAGES = ("train", "val", "test")
#: seconds between two progress notes of a job (``se-variants status`` reads them); the first and the last epoch of
#: an attempt are always noted. A note a step costs a file replace: per epoch, a few % of a small dataset's epoch.
PROGRESS_EVERY_S = 1.0
_Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau


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
        # in the checkpoint only: a tracker gets the job's identity from its own code, never the whole config
        self.save_hyperparameters(hparams or {}, logger=False)
        self.test_confusion: torch.Tensor | None = None
        self.plateau: _Plateau | None = None  # a plateau schedule, stepped here with the epoch's training loss
        self._plateau_state: dict[str, Any] | None = None  # its state from a checkpoint, until it is built
        self._reset_sums()

    def _reset_sums(self) -> None:
        # plain tensors made in this process: spawned DDP ranks must not share states through shared memory
        self._sums = {s: torch.zeros(3, dtype=torch.float64) for s in STAGES}  # loss × n, correct, n
        self._confusion = torch.zeros(self.num_classes * self.num_classes, dtype=torch.long)

    def setup(self, stage: str) -> None:
        self._reset_sums()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":  # Lightning names the hook it calls here dozens of times a step: a plain
            object.__setattr__(self, name, value)  # attribute, without nn.Module's look-ups (2-3 % of a small step)
        else:
            super().__setattr__(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        # label -1: a padding item of a DDP rank (data.base.EpochSampler), left out of the loss and the metrics
        loss = F.cross_entropy(logits, y, ignore_index=-1)
        with torch.no_grad():
            pred = logits.argmax(1)
            if self.trainer.world_size > 1:
                valid = y >= 0
                n = valid.sum().double()
                correct = (valid & (pred == y)).sum().double()
            else:
                n = torch.tensor(float(y.numel()), dtype=torch.float64, device=logits.device)
                correct = (pred == y).sum().double()
            sums = self._sums[stage]
            if sums.device != logits.device:
                sums = self._sums[stage] = sums.to(logits.device)
            sums += torch.stack([loss.detach().double() * n, correct, n])
            if stage == "test":
                k = self.num_classes
                self._confusion = self._confusion.to(y.device) + torch.bincount(y * k + pred, minlength=k * k)
        return loss

    def _log_epoch(self, stage: str) -> dict[str, float]:
        """``<stage>/loss`` (mean over the epoch's samples), ``<stage>/acc`` and ``<stage>/n`` (samples), summed over
        DDP ranks before dividing, logged once an epoch (a log call per step costs as much as a step of a small
        model); returns them."""
        sums = self.trainer.strategy.reduce(self._sums[stage], reduce_op="sum") if self.trainer.world_size > 1 \
            else self._sums[stage]
        loss, correct, n = sums.tolist()
        values = {"loss": loss / max(n, 1.0), "acc": correct / max(n, 1.0), "n": n}
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name != "n", sync_dist=False)
        self._sums[stage] = torch.zeros_like(self._sums[stage])
        return values

    def on_train_epoch_end(self) -> None:
        loss = self._log_epoch("train")["loss"]
        if self.plateau is not None:  # before RunState writes last.ckpt (see the module doc); every rank alike
            self.plateau.step(loss)

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
        k = self.num_classes
        self.test_confusion = self._confusion.view(k, k).cpu()
        self._confusion = torch.zeros_like(self._confusion)

    def configure_optimizers(self) -> Any:
        optimizer = OPTIM.build(self.optim_spec, self.parameters())
        scheduler = SCHEDULE.build(self.schedule_spec, optimizer, self.epochs)
        if isinstance(scheduler, _Plateau):  # stepped by on_train_epoch_end, not by Lightning
            self.plateau = scheduler
            if self._plateau_state is not None:
                scheduler.load_state_dict(self._plateau_state)
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.plateau is not None:
            checkpoint[PLATEAU_KEY] = self.plateau.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # (Lightning restores the module before configure_optimizers builds the schedule: kept until then)
        self._plateau_state = checkpoint.get(PLATEAU_KEY)
        if self.plateau is not None and self._plateau_state is not None:
            self.plateau.load_state_dict(self._plateau_state)


def per_class(confusion: torch.Tensor) -> dict[str, Any]:
    """Per-class test accuracy (recall: correct ÷ samples of the class; None for a class with no samples), the
    support of each class and the confusion matrix (rows: true class, columns: predicted), from a (K, K) matrix."""
    cm = confusion.long()
    support = cm.sum(1)
    acc = [float(cm[k, k] / support[k]) if support[k] else None for k in range(len(cm))]
    return {"acc": acc, "support": support.tolist(), "confusion": cm.tolist()}


class ImageData(L.LightningDataModule):
    """Data loaders over :class:`~.data.base.Splits`: training order from :class:`EpochSampler` and augmentation
    from :class:`SeededItems` (both functions of ``seed`` and the epoch only), validation and test in order
    (:class:`ShardSampler`), sharded across DDP ranks. No loader draws from the global RNG.

    The trainer must run with ``use_distributed_sampler=False`` (these samplers already shard). DataLoader worker
    processes are forked where the platform can (a launcher's worker process cannot spawn them).
    """

    def __init__(self, splits: Splits, seed: int = 0):
        super().__init__()
        self.splits = splits
        self.seed = seed

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if device.type == "cpu" and all(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in batch):
            return batch  # (already there: Lightning's generic move walks the batch's structure every step)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _ranks(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset: Dataset, sampler: Sampler[Any]) -> DataLoader:
        workers = self.splits.num_workers
        context = "fork" if workers > 0 and "fork" in multiprocessing.get_all_start_methods() else None
        return DataLoader(dataset, batch_size=self.splits.batch_size, sampler=sampler, num_workers=workers,
                          multiprocessing_context=context, generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        sampler = EpochSampler(len(self.splits.train), self.seed, *self._ranks())
        return self._loader(SeededItems(self.splits.train, self.seed), sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, ShardSampler(len(self.splits.val), *self._ranks()))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, ShardSampler(len(self.splits.test), *self._ranks()))


class RunState(Checkpoint):
    """Reseeds every epoch, writes ``last.ckpt`` at the end of an epoch, and keeps the per-epoch metric history
    (with the learning rate each epoch trained with) and, with ``select="min_train_loss"``, the weights of the epoch
    with the lowest training loss.

    Args:
        seed: the run's seed.
        ckpt_path: where ``last.ckpt`` goes.
        config_hash: the job's config hash, stored in the checkpoint (a resume refuses a checkpoint of another
            config).
        every_s: write ``last.ckpt`` at the end of an epoch when at least this many seconds passed since the last
            write (and always after the last epoch); 0 writes after every epoch. A job killed in between resumes
            from the last checkpoint written, with the same final numbers; only the work since is lost.
        reporter: called with (epoch, that epoch's metrics) after each epoch (a search's pruner: it may raise
            :class:`.pruning.Pruned` to stop the job).
        progress: where to note the epochs finished (:data:`.results.PROGRESS_FILE`) when training starts, after
            its first and its last epoch, and after any epoch that ends :data:`PROGRESS_EVERY_S` or more after the
            last note, for ``se-variants status``; a note that cannot be written is skipped.
        select: ``last`` or ``min_train_loss``: keep a copy of the model's state (parameters and buffers) from the
            end of every epoch whose training loss is lower than every earlier one (strictly: the first of equal
            minima; a non-finite loss never counts), as Keras' ``ModelCheckpoint(monitor='loss',
            save_best_only=True)`` does (Ismail Fawaz et al. 2019). It is saved in last.ckpt with the history.

    A :class:`~lightning.pytorch.callbacks.Checkpoint` (it writes the checkpoint), so Lightning calls its epoch-end
    hook after the LightningModule's, whose logged values (the epoch's sample counts) it records. Under DDP this
    object lives in every rank; the launching process reads the history back from last.ckpt.
    """

    def __init__(self, seed: int, ckpt_path: Path, config_hash: str, every_s: float = 0.0,
                 reporter: Any = None, progress: Path | None = None, select: str = "last"):
        self.seed = seed
        self.ckpt_path = Path(ckpt_path)
        self.config_hash = config_hash
        self.every_s = every_s
        self.reporter = reporter
        self.select = select
        self.progress = progress
        self.history: list[dict[str, float]] = []
        #: the selected epoch: {"epoch", "train/loss", "state": the model's state_dict on the CPU} (min_train_loss)
        self.selected: dict[str, Any] | None = None
        self._lr: float | None = None
        self._last_write = time.monotonic()
        self._last_note = -math.inf
        self._first = 0  # the first epoch this attempt trains (a resumed one: its checkpoint's epochs)

    @property
    def state_key(self) -> str:
        return RUN_STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return {"config_hash": self.config_hash, "history": self.history, "selected": self.selected}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state.get("history", []))
        self.selected = state.get("selected")

    def _note_progress(self, trainer: L.Trainer, epochs: int, always: bool = True) -> None:
        if self.progress is None or not trainer.is_global_zero:
            return
        now = time.monotonic()
        if not always and now - self._last_note < PROGRESS_EVERY_S:
            return
        self._last_note = now
        try:  # not synced: the next epoch rewrites it
            write_json(self.progress, {"epoch": epochs, "max_epochs": trainer.max_epochs,
                                       "metrics": self.history[-1] if self.history else {}}, indent=None,
                       durable=False)
        except OSError:
            pass

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._first = trainer.current_epoch
        self._note_progress(trainer, trainer.current_epoch)  # a resumed attempt: the epochs of its checkpoint

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = derive_seed(self.seed, trainer.current_epoch, trainer.global_rank, 0xE90C)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None

    def _select(self, epoch: int, loss: float | None, pl_module: L.LightningModule) -> None:
        if loss is None or not math.isfinite(loss):
            return
        if self.selected is None or loss < self.selected["train/loss"]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.model.state_dict().items()}
            self.selected = {"epoch": epoch, "train/loss": loss, "state": state}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # validation has run, the epoch-interval LR schedule has stepped (Lightning steps it after the last batch)
        # and so has a plateau schedule (the module's epoch-end hook ran before this one): this is the state an
        # uninterrupted run carries into the next epoch
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.split("/")[0] in ("train", "val")}
        self.history.append({"epoch": trainer.current_epoch, "lr": self._lr, **metrics})
        if self.select == "min_train_loss":
            self._select(trainer.current_epoch, metrics.get("train/loss"), pl_module)
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        # (ranks decide alike: under DDP every epoch is written, since writing is collective)
        if last or trainer.world_size > 1 or time.monotonic() - self._last_write >= self.every_s:
            tmp = self.ckpt_path.with_name(f".{self.ckpt_path.name}.{os.getpid()}.tmp")
            trainer.save_checkpoint(tmp, weights_only=False)  # the full state; every rank takes part, rank 0 writes
            if trainer.is_global_zero:
                os.replace(tmp, self.ckpt_path)
            trainer.strategy.barrier("se_variants.last_ckpt")
            self._last_write = time.monotonic()
        # (the first epoch of an attempt and the last are always noted; the others at most every PROGRESS_EVERY_S)
        self._note_progress(trainer, trainer.current_epoch + 1, always=last or trainer.current_epoch == self._first)
        if self.reporter is not None and trainer.world_size == 1:  # a search's pruner hears of the epoch
            self.reporter(trainer.current_epoch, self.history[-1])

    @staticmethod
    def final_metrics(history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        """``{"train": {...}, "val": {...}}`` of the last finished epoch of ``history``."""
        out: dict[str, dict[str, float]] = {}
        for key, value in (history[-1] if history else {}).items():
            stage, _, name = key.partition("/")
            if name:
                out.setdefault(stage, {})[name] = value
        return out


class TrackerLogger(Logger):
    """A tracker's Lightning logger (MLflow, W&B) that never stops the job it logs: the first error of the tracker
    is kept and from then on its writes are dropped and counted (:attr:`lost`), so that a tracker that is down
    costs one failing request, not a stall per epoch; an epoch the run already holds (a resumed job trains
    again what its killed attempt had logged) is not logged twice.

    Args:
        inner: the Lightning logger (MLFlowLogger, WandbLogger).
        logged: metric key → the last epoch the run holds (``"*"``: for every key).
        epoch_steps: log each metric at its epoch (MLflow's step) instead of Lightning's global step.

    Lightning's automatic ``log_hyperparams`` (the whole config) and ``finalize`` (closing the run before the test
    metrics) do nothing here: the tracker logs the job's identity and closes its run itself.
    """

    def __init__(self, inner: Logger, logged: dict[str, int] | None = None, epoch_steps: bool = False):
        super().__init__()
        self.inner = inner
        self.logged = dict(logged or {})
        self.epoch_steps = epoch_steps
        self.error: str | None = None
        self.lost = 0

    @property
    def name(self) -> str | None:
        try:
            return self.inner.name
        except Exception:  # noqa: BLE001 -- a tracker that is down has no name to show
            return None

    @property
    def version(self) -> Any:
        try:
            return self.inner.version
        except Exception:  # noqa: BLE001
            return None

    @property
    def experiment(self) -> Any:
        return self.inner.experiment

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def finalize(self, status: str) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.get("epoch")
        if epoch is not None:
            every = self.logged.get("*", -1)
            metrics = {k: v for k, v in metrics.items()
                       if k == "epoch" or int(epoch) > max(self.logged.get(k, -1), every)}
            if set(metrics) == {"epoch"}:
                return
            if self.epoch_steps:
                step = int(metrics.pop("epoch"))
        if self.error is not None:
            self.lost += 1
            return
        try:
            self.inner.log_metrics(metrics, step)
        except Exception as err:  # noqa: BLE001 -- the tracker's failure costs its logging, never the job
            self.error = f"{type(err).__name__}: {err}"
            self.lost += 1

    def save(self) -> None:
        if self.error is None:
            try:
                self.inner.save()
            except Exception as err:  # noqa: BLE001
                self.error = f"{type(err).__name__}: {err}"
