"""The ablation runner: Hydra configs (top-level ``configs/``), Lightning training, sweeps and their reports.

Rooms:
    models/     the networks blocks go into (CIFAR ResNet, timm, torchvision), with SENet's placements
    data/       digits (default, embedded), cifar10/100, imagefolder
    optim.py    optimizers and schedules;  lit.py  the LightningModule
    schema.py   the typed top-level config;  validate.py  checks before training;  gen.py  generated configs
    plan.py     the job planner (sweep grid × ablation variants × seeds) and the preflight of every job
    hydra_app.py  the Hydra app (a thin shell over task.run_task);  train_cmd.py  ``se-variants train | ablate``
    sweep.py    the sweeper's side (hydra_plugins/se_variants_sweeper): batches, waiting, final report, exit code
    task.py     one job under any launcher;  job.py  one job → metrics.json (claims.py, devices.py)
    results.py  metrics.json read and written safely;  report.py  a sweep folder → report.md/csv/png
    commands.py the CLI dispatch
"""

from .job import run_job
from .report import write_report
from .validate import ConfigError, block_spec, check_config

__all__ = ["run_job", "write_report", "ConfigError", "check_config", "block_spec"]
