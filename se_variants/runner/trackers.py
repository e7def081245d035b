"""Where a job's metrics go besides ``metrics.json``: Lightning's own loggers, chosen by ``trainer.loggers``.

* ``csv`` (``<job>/logs/metrics.csv``) and ``tensorboard`` (``<job>/tensorboard/``);
* ``mlflow``: one run per job in the experiment of its sweep (``logger.mlflow.experiment_name``, by default the
  sweep folder's name), named like the job folder, in a local SQLite store (``outputs/mlflow.db``) or a team
  server (``logger.mlflow.tracking_uri=http://...``); params: the variant columns, seed, config hash; metrics:
  every epoch's train and val metrics and the final test metrics; artifacts: ``metrics.json`` and the resolved
  ``config.yaml``; at the sweep's end the report files go to a run named ``<sweep> report``;
* ``wandb``: one run per job, grouped by sweep, named like the job folder; ``WANDB_MODE=offline`` (or
  ``logger.wandb.mode=offline``) writes the run files into the job folder for a later ``wandb sync``.

The runner's guarantees hold in the trackers: a killed and resumed job continues the same run (its ids are kept in
``<job>/trackers.json``); a finished job that is skipped creates no run; ``rerun=true`` starts a new run tagged
``rerun``; a job trained once under concurrency is logged once; the final metrics are ``metrics.json``'s.
"""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from pathlib import Path
from typing import Any

from .files import read_json, stamp, write_json

__all__ = ["LOGGERS", "EXTRAS", "RUNS_FILE", "missing_library", "default_tracking_uri", "job_loggers",
           "finish_job", "log_report"]

#: the names ``trainer.loggers`` may list
LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
#: logger → (the module it needs, the se-variants extra that installs it)
EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "track"), "wandb": ("wandb", "track")}
#: a job's tracker run ids, so that a resumed attempt continues the same runs
RUNS_FILE = "trackers.json"
#: the MLflow run that holds a sweep's report files
REPORT_KIND = "report"


def missing_library(name: str) -> str | None:
    """The error message when the library of logger ``name`` is not installed, else None."""
    need = EXTRAS.get(name)
    if need is None or importlib.util.find_spec(need[0]) is not None:
        return None
    return (f"trainer.loggers: {name} needs the {need[0]} package, which is not installed. Install it with: "
            f"pip install 'se-variants[{need[1]}]' (or drop it from trainer.loggers).")


def default_tracking_uri() -> str:
    """The embedded MLflow store: a SQLite file in the output root of this folder (``outputs/mlflow.db``)."""
    return "sqlite:///" + str((Path("outputs") / "mlflow.db").resolve())


def _params(record: dict[str, Any]) -> dict[str, Any]:
    """What identifies a job in a tracker: its variant columns, seed and hashes."""
    keys = ("block", "squeeze", "excite", "gate", "seed", "config_hash", "variant_hash")
    return {k: ("" if record.get(k) is None else record.get(k)) for k in keys}


def job_loggers(cfg: dict[str, Any], job_dir: Path, record: dict[str, Any], new_runs: bool = False) -> list[Any]:
    """The Lightning loggers of a job, continuing the runs of its earlier attempts (``new_runs``: a re-run of a
    finished job, which starts new ones)."""
    names = list(cfg["trainer"].get("loggers") or [])
    if not names:
        return []
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    ids = {} if new_runs else (read_json(job_dir / RUNS_FILE) or {})
    options = cfg.get("logger") or {}
    # a later attempt (resumed, restarted, re-run) logs beside the earlier ones' (Lightning would delete them)
    earlier = any((job_dir / d).is_dir() and any((job_dir / d).iterdir()) for d in ("logs", "tensorboard"))
    version = f"attempt-{stamp()}" if earlier else ""
    tags = {"se_variants.job": job_dir.name, "se_variants.sweep": job_dir.parent.name,
            **({"se_variants.rerun": "true"} if cfg.get("rerun") else {})}
    out = []
    for name in names:
        if name == "csv":
            out.append(CSVLogger(save_dir=str(job_dir), name="logs", version=version))
        elif name == "tensorboard":
            out.append(TensorBoardLogger(save_dir=str(job_dir), name="tensorboard", version=version))
        elif name == "mlflow":
            from lightning.pytorch.loggers import MLFlowLogger

            opts = options.get("mlflow") or {}
            uri = opts.get("tracking_uri") or default_tracking_uri()
            logger = MLFlowLogger(experiment_name=opts.get("experiment_name") or job_dir.parent.name,
                                  run_name=job_dir.name, tracking_uri=uri,
                                  tags={**tags, **(opts.get("tags") or {})}, run_id=ids.get("mlflow"), log_model=False)
            ids["mlflow"] = logger.run_id  # (creates the run now, so that its id is kept before training)
            out.append(logger)
        elif name == "wandb":
            from lightning.pytorch.loggers import WandbLogger

            opts = options.get("wandb") or {}
            ids.setdefault("wandb", uuid.uuid4().hex[:12])
            extra = {"mode": opts["mode"]} if opts.get("mode") else {}
            out.append(WandbLogger(project=opts.get("project") or "se-variants", entity=opts.get("entity"),
                                   group=opts.get("group") or job_dir.parent.name, name=job_dir.name, id=ids["wandb"],
                                   resume="allow", save_dir=str(job_dir), tags=[*(opts.get("tags") or []),
                                   *(["rerun"] if cfg.get("rerun") else [])], **extra))
    write_json(job_dir / RUNS_FILE, ids)
    for logger in out:
        if type(logger).__name__ in ("MLFlowLogger", "WandbLogger"):
            logger.log_hyperparams(_params(record))
    return out


def finish_job(loggers: list[Any], job_dir: Path, record: dict[str, Any], files: list[Path]) -> None:
    """After a job: its final metrics (those of metrics.json) and ``files`` as artifacts of its tracker runs, and
    the runs closed (also when a tracker refuses something, so that the next job of the process starts its own)."""
    final = {f"final/{stage}/{key}": value for stage, values in (record.get("metrics") or {}).items()
             for key, value in values.items() if isinstance(value, (int, float))}
    ok = record.get("status") == "ok"
    errors = []
    for logger in loggers:
        kind = type(logger).__name__
        if kind == "MLFlowLogger":
            try:
                logger.log_metrics(final)
                for path in files:
                    logger.experiment.log_artifact(logger.run_id, str(path))
            except Exception as err:
                errors.append(err)
            finally:
                logger.experiment.set_terminated(logger.run_id, "FINISHED" if ok else "FAILED")
        elif kind == "WandbLogger":
            run = logger.experiment
            try:
                run.summary.update(final)
                for path in files:  # files in the run's folder are the run's files (uploaded, or synced later)
                    shutil.copyfile(path, Path(run.dir) / path.name)
            except Exception as err:
                errors.append(err)
            finally:
                run.finish(exit_code=0 if ok else 1)
    if errors:
        raise errors[0]


def log_report(cfg: dict[str, Any], sweep_dir: Path, files: list[Path]) -> str | None:
    """The report files of a sweep as artifacts of the MLflow run ``<sweep> report`` in the sweep's experiment
    (made once, updated by later runs of the command); returns its run id, or None without mlflow."""
    if "mlflow" not in (cfg["trainer"].get("loggers") or []):
        return None
    import mlflow

    opts = (cfg.get("logger") or {}).get("mlflow") or {}
    client = mlflow.MlflowClient(tracking_uri=opts.get("tracking_uri") or default_tracking_uri())
    name = opts.get("experiment_name") or sweep_dir.name
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    found = client.search_runs([experiment_id], filter_string=f"tags.`se_variants.kind` = '{REPORT_KIND}'")
    run_id = found[0].info.run_id if found else client.create_run(
        experiment_id, run_name=f"{sweep_dir.name} report", tags={"se_variants.kind": REPORT_KIND}).info.run_id
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")
    return run_id
