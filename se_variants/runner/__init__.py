"""The ablation runner: Hydra configs (top-level ``configs/``), Lightning training, sweeps, searches and reports.

A command's data path, one way:
command line → :mod:`.commands` (:mod:`.args` splits flags from overrides) → :mod:`.plan` (a Planner: compose each
variant once, check every job; no Lightning) → a grid :class:`~.plans.Plan` run by :mod:`.sweep` (one scan of the
sweep folder for finished jobs, ``sweep.json``, progress lines, the report at the end, the exit code; the one place
that handles interrupts), or a :class:`~.plans.SearchPlan` run by :mod:`.search` (an Optuna study; each trial
planned as a job) → :mod:`.launchers` (this process, worker processes, submitit/SLURM; chosen by
:mod:`.launcher_choice`) → :mod:`.task` → :mod:`.job` (claim, resume, Lightning fit/test, ``metrics.json``).
``se-variants status`` reads what that path wrote, on a path of its own: ``cli.py`` → :mod:`.status` →
:mod:`.standing` (records, claims, progress notes) and :mod:`.submissions` (``sweep.json``'s submissions, their
drivers and queues) -- no Hydra, no Lightning.

Rooms:
    registries.py  the runner's registries (data, model, optim, schedule, sampler, pruner, logger);  data/,
                   models/, optim.py, samplers.py, trackers.py  their entries (data/ucr.py: the UCR/UEA archive;
                   models/fcn.py, resnet_tsc.py: time series)
    configs.py     the Hydra config tree and the compose API;  schema.py  the typed top level;  gen.py  generated
                   configs;  validate.py  checks of a composed config;  identity.py  hashes, names, variant columns
    commands.py    the CLI of train / ablate / report / inspect;  args.py  flags;  hydra_app.py  Hydra's own flags
    plan.py        command line → checked jobs;  plans.py  Job, Plan, SearchPlan;  launcher_choice.py  which
                   launcher, how many jobs at once
    sweep.py       a grid → results (or, with --no-wait, submitted: driver.py  the detached driver of the
                   processes launcher);  launchers.py  where jobs run;  submissions.py  sweep.json's submissions,
                   their drivers and queues (SLURM's squeue, sacct)
    search.py      a search → results (each trial a job):  search_space.py  the space as Optuna distributions;
                   search_settings.py  hydra.sweeper checked;  study.py  the study, its sampler, trials left by dead
                   commands;  search_report.py  search.md and the Pareto front;  confirm.py  --confirm
    task.py        one planned job in any process;  job.py  one job → metrics.json (claims.py, devices.py,
                   checkpoints.py, lit.py: the Lightning pieces, measure.py, trackers.py: trackers besides
                   metrics.json, mlflow_store.py: an MLflow store checked and made ready, pruning.py: a search's
                   pruner inside a job)
    files.py       atomic writes, bounded reads, file locks;  redact.py  credentials of URLs out of everything
                   printed or written;  results.py  metrics.json records;  report.py, stats.py,
                   report_plot.py, tables.py, reproduction.py  the report
    status.py      ``se-variants status`` (no Hydra, no Lightning): standing.py  where each job stands, from records,
                   claims, progress notes and queues;  folder_args.py  the command line of status and report
    inspect_job.py ``se-variants inspect``: inspect_load.py  a job rebuilt from its checkpoint;  excitations.py,
                   excitation_plots.py  statistics and figures
"""
