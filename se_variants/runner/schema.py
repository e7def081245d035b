"""The typed schema of the runner's config: top-level keys, ``trainer``, ``measure``, ``ablation``, ``paths``.

Hydra merges every YAML and command-line override into this structured config, so an unknown top-level or
trainer key, or a value of the wrong type, fails at composition with the key named. The part nodes
(``squeeze``, ``excite``, ``gate``, ``block``, ``model``, ``data``, ``optim``, ``schedule``) and the ``logger``
node have options that depend on the chosen name; they are checked against their registries by
:func:`se_variants.runner.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Union

__all__ = ["TrainConfig", "TrainerConfig", "MeasureConfig", "AblationConfig", "ReportConfig", "PublishedRuns",
           "PathsConfig", "register_schema", "SELECTIONS", "RUNNER_TRAINER_KEYS", "NON_IDENTITY_KEYS"]

#: ``trainer.select``: which weights a job tests -- the final ones, or those of the epoch with the lowest training
#: loss (Ismail Fawaz et al. 2019: Keras' ModelCheckpoint(monitor='loss', save_best_only=True))
SELECTIONS = ("last", "min_train_loss")
#: keys of the trainer node that the runner reads itself (the others are Lightning Trainer arguments)
RUNNER_TRAINER_KEYS = ("loggers", "select")

#: keys that do not change what a job computes: two configs that differ only here are the same job (a sweep
#: re-run skips it), and they are left out of the config hash
NON_IDENTITY_KEYS = (
    "rerun", "resume", "ckpt_path", "checkpoint_every_s", "verbose", "ablation", "paths", "report", "logger",
    "search", "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.loggers",
)


@dataclass
class TrainerConfig:
    """Lightning Trainer arguments (the subset the runner exposes; see lightning.pytorch.Trainer)."""

    max_epochs: int = 10
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    precision: str = "32-true"
    limit_train_batches: Optional[Union[int, float]] = None
    limit_val_batches: Optional[Union[int, float]] = None
    limit_test_batches: Optional[Union[int, float]] = None
    num_sanity_val_steps: int = 0
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    gradient_clip_val: Optional[float] = None
    #: which weights are tested, once, at the end: "last" (the final epoch's) or "min_train_loss" (the epoch with
    #: the lowest training loss; kept in the checkpoint, so a resumed job selects the same)
    select: str = "last"
    enable_progress_bar: bool = True
    enable_model_summary: bool = True
    #: trackers besides metrics.json (which holds every epoch's metrics): any of "csv" (logs/metrics.csv),
    #: "tensorboard", "mlflow", "wandb" (the LOGGER registry; their options: the logger node)
    loggers: List[str] = field(default_factory=list)


@dataclass
class MeasureConfig:
    """How the cost columns of metrics.json are measured."""

    #: images per forward pass when timing inference
    latency_batch: int = 1
    latency_repeats: int = 20


@dataclass
class AblationConfig:
    """What ``se-variants ablate`` runs: each variant (a space-separated override string) with each seed."""

    name: str = "ablation"
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])  # the fewest that give a comparison a p-value
    variants: List[str] = field(default_factory=list)


@dataclass
class PublishedRuns:
    """Published per-run test accuracies of one variant, which the report compares with ours (its reproduction
    check, docs/statistics.md)."""

    #: the variant, as an override string of ablation.variants ("data.name=ItalyPowerDemand block=none"): it
    #: matches every variant of the report whose jobs have all these overrides
    variant: str = "???"
    #: where the numbers come from: paper, table or file
    source: str = "???"
    #: test accuracy of each published run, in %
    values: List[float] = field(default_factory=list)


@dataclass
class ReportConfig:
    """How reports compare variants with their baseline (see se_variants/runner/report.py)."""

    #: significance level of the Holm-adjusted tests
    alpha: float = 0.05
    #: paired test over seeds (valid only when variant and baseline jobs share their seeds and data order)
    paired: bool = False
    #: published runs to compare variants with (the reproduction check of the report)
    published: List[PublishedRuns] = field(default_factory=list)


@dataclass
class PathsConfig:
    #: where datasets live (cifar10, cifar100 and imagefolder roots default to folders in it)
    data_dir: str = "data"


@dataclass
class TrainConfig:
    """The whole run. Groups fill the ``Any`` nodes; see configs/train.yaml for the defaults list."""

    #: global seed (python, numpy, torch, dataloader workers); the data split has its own fixed split_seed
    seed: int = 0
    #: deterministic algorithms (torch.use_deterministic_algorithms): same seed → same metrics
    deterministic: bool = True
    #: torch intra-op threads for the job (1 is fastest for the tiny digits model; None: torch's default)
    threads: Optional[int] = None
    #: modules imported before anything is built, so their @SQUEEZE.register(...) etc. run (your own ops)
    imports: List[str] = field(default_factory=list)
    block: Any = None
    squeeze: Any = None
    excite: Any = None
    gate: Any = None
    model: Any = None
    data: Any = None
    optim: Any = None
    schedule: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    #: the options of the trackers trainer.loggers names, one node per logger (checked against the LOGGER registry)
    logger: Any = None
    #: set by a search for each trial's job (study, trial, objective; se_variants.runner.search), never by hand
    search: Any = None
    #: resume from this checkpoint (a last.ckpt); by default a job resumes from its own folder's last.ckpt
    ckpt_path: Optional[str] = None
    #: resume an interrupted job from <job folder>/checkpoints/last.ckpt when it is there
    resume: bool = True
    #: run even when the sweep folder already holds a finished (status ok) result of the same config
    rerun: bool = False
    #: write checkpoints/last.ckpt at the end of an epoch once this many seconds passed since the last one (and
    #: after the last epoch); 0: after every epoch. A killed job resumes from the last one written, exactly.
    checkpoint_every_s: float = 10.0
    #: show Lightning's banners, tips and library warnings (hidden by default: they are not about your run)
    verbose: bool = False


def register_schema() -> None:
    """Store the schema in Hydra's ConfigStore as ``schema`` (named first in configs/train.yaml's defaults)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="schema", node=TrainConfig)
