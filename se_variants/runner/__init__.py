"""The ablation runner: Hydra configs (top-level ``configs/``), Lightning training, sweeps and their reports.

Rooms:
    models/     the networks blocks go into (CIFAR ResNet, timm, torchvision), with SENet's placements
    data/       digits (default, embedded), cifar10/100, imagefolder
    optim.py    optimizers and schedules;  lit.py  the LightningModule
    schema.py   the typed top-level config;  validate.py  checks before training;  gen.py  generated configs
    job.py      one job → metrics.json;  report.py  a sweep folder → report.md/csv/png
    hydra_app.py  ``se-variants train``;  ablate.py  ``se-variants ablate``;  commands.py  the CLI dispatch
"""

from .job import run_job
from .report import write_report
from .validate import ConfigError, block_spec, check_config

__all__ = ["run_job", "write_report", "ConfigError", "check_config", "block_spec"]
