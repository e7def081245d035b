"""The ablation runner: Hydra configs (top-level ``configs/``), Lightning training, sweeps and their reports.

The data path of ``se-variants train -m ...`` and ``se-variants ablate``, one way:
command line → :mod:`.plan` (compose each variant once, check every job; no Lightning) → :mod:`.sweep` (one scan
of the sweep folder for finished jobs, ``sweep.json``, progress lines, the report at the end, the exit code; the
one place that handles interrupts) → :mod:`.launchers` (this process, worker processes, submitit/SLURM) →
:mod:`.task` → :mod:`.job` (claim, resume, Lightning fit/test, ``metrics.json``).

Rooms:
    registries.py  the runner's registries (data, model, optim, schedule);  data/, models/, optim.py  their entries
                   (data/ucr.py: the UCR/UEA archive; models/fcn.py, resnet_tsc.py: time series)
    configs.py     the Hydra config tree and the compose API;  schema.py  the typed top level;  gen.py  generated
                   configs;  validate.py  checks of a composed config;  identity.py  hashes, names, variant columns
    plan.py        command line → checked jobs;  sweep.py  a plan → results;  launchers.py  where jobs run
    task.py        one planned job in any process;  job.py  one job → metrics.json (claims.py, devices.py,
                   checkpoints.py, lit.py: the Lightning pieces, measure.py)
    files.py       atomic writes, bounded reads;  results.py  metrics.json records;  report.py, stats.py,
                   report_plot.py, tables.py, reproduction.py  the report;  inspect_job.py, excitations*.py
                   ``se-variants inspect``
    commands.py    the CLI of train / ablate / report / inspect;  hydra_app.py  Hydra's own flags (--help, --cfg)
"""
