"""Where a job's metrics go besides ``metrics.json``: the trackers of the ``LOGGER`` registry, named by
``trainer.loggers`` (``[csv,mlflow]``), each with the typed options of its ``logger.<name>`` node.

* ``csv`` (``<job>/logs/metrics.csv``) and ``tensorboard`` (``<job>/tensorboard/``), Lightning's file loggers;
* ``mlflow``: one run per job in the experiment of its sweep folder (by default named by that folder's resolved
  path), in the embedded SQLite store ``outputs/mlflow.db`` or a server (:mod:`.mlflow_store` checks the store
  before anything trains and makes it ready once);
* ``wandb``: one run per job, grouped by sweep folder; offline (``logger.wandb.mode=offline`` or
  ``WANDB_MODE=offline``), the run is written into the job folder when the job ends -- one run folder per job,
  for a later ``wandb sync``.

The runner's guarantees hold in the trackers:

* **they never block the science**: a tracker that fails while a job trains costs its logging, never the job --
  the job's ``metrics.json`` and checkpoints go on, its later writes are dropped without waiting, and the next
  jobs of the process leave it alone for :data:`HOLD_OFF_S`; what it lost is kept in ``<job>/trackers.json``,
  named at the end of the command, and logged from ``metrics.json`` (the epochs its run lacks, the final metrics,
  the files) when the command next sees the job finished;
* **params are the job's identity** -- its variant columns, seed and config hashes -- never the whole config
  (Lightning's automatic ``log_hyperparams`` does not reach a tracker), so a job resumed with a changed run knob
  goes on in its run;
* **one history**: a killed job resumes into the same run (its run ids are in ``trackers.json``) and does not log
  an epoch its run already holds (MLflow's step is the epoch); a finished job that a re-run skips creates no
  run; ``rerun=true`` starts a new one, tagged ``rerun``; the final metrics are ``metrics.json``'s;
* **quiet**: the libraries' own lines go to ``<job>/trackers.log``, not the console; no credential of a tracking
  URI reaches a file or the console (:mod:`.redact`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ..registry import SpecError, suggest
from . import mlflow_store
from .files import read_json, stamp, write_json
from .redact import redact, redact_values
from .registries import LOGGER
from .results import RESULT_FILE, load_record

__all__ = ["LOGGER", "Tracker", "JobTrackers", "RUNS_FILE", "LOG_FILE", "options_of", "check_options",
           "check_destinations", "fix_destinations", "prepare", "replay", "losses", "offline_runs", "after_command",
           "log_report",
           "missing_library"]

#: a job's tracker runs (ids, destination, whether each got everything), so that a later attempt continues them
RUNS_FILE = "trackers.json"
#: the tracker libraries' own messages during a job
LOG_FILE = "trackers.log"
#: the job's resolved config (credentials redacted), written beside metrics.json for the trackers' artifacts
CONFIG_FILE = "config.yaml"
#: the loggers of the tracker libraries (and of Lightning's tracker loggers) whose lines go to LOG_FILE
LIBRARY_LOGGERS = ("mlflow", "alembic", "wandb", "lightning.pytorch.loggers")
#: the tag of the MLflow run that holds a sweep's report files
REPORT_KIND = "report"
EMPTY: Mapping[str, Any] = MappingProxyType({})
#: a job's status → its MLflow run's
RUN_STATUS = {"ok": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
#: seconds the later jobs of a process leave a tracker that failed alone (they lose its logging at once instead of
#: waiting for it again; the next command tries again and completes their runs)
HOLD_OFF_S = 60.0
#: "<tracker>:<destination>" → (when it failed in this process, why)
_DOWN: dict[str, tuple[float, str]] = {}


def _down_reason(key: str) -> str | None:
    """Why the destination ``key`` ("<tracker>:<destination>") is left alone: it failed in this process less than
    :data:`HOLD_OFF_S` ago; None when it may be tried."""
    since, why = _DOWN.get(key, (-HOLD_OFF_S, ""))
    ago = time.monotonic() - since
    return None if ago >= HOLD_OFF_S else f"it was down ({why}, {ago:.0f} s before, in this process)"


class Tracker:
    """One job's tracker; a ``LOGGER`` entry is a subclass whose keyword-only ``__init__`` parameters are its
    options (the keys of its ``logger.<name>`` node).

    Args:
        job: the job's folder, its identity params and what its earlier attempts left (:class:`JobTrackers`).
    """

    #: (the module it needs, the se-variants extra that installs it), or None
    needs: tuple[str, str] | None = None
    #: whether a finished job's run is completed from its record when the job's own attempt could not
    replayable = False

    def __init__(self, job: JobTrackers):
        self.job = job
        self.name = ""  # its name in LOGGER (set by JobTrackers)
        self.live: Any = None  # the guarded Lightning logger while the job trains (lit.TrackerLogger)
        self.failed = False  # it failed during this attempt: not tried again before the next command

    @classmethod
    def check(cls, **options: Any) -> None:
        """The preflight of a destination (once a command, also in a dry run; creates nothing)."""

    @classmethod
    def prepare(cls, **options: Any) -> None:
        """Make a destination ready before any job of the command logs to it."""

    def destination(self) -> str:
        """Where the runs go (the state of ``trackers.json`` belongs to it; credentials redacted)."""
        return ""

    def state(self) -> dict[str, Any]:
        """This tracker's entry in the job's ``trackers.json`` when it is of this destination (else a new one)."""
        entry = self.job.states.get(self.name)
        if isinstance(entry, str):  # the layout of an earlier version: the run id alone
            entry = {"run": entry}
        if not isinstance(entry, dict) or entry.get("destination", self.destination()) != self.destination():
            return {}
        return dict(entry)

    def start(self) -> Any:
        """The Lightning logger the job trains with (None: nothing during training); may raise."""
        return None

    def finish(self, record: dict[str, Any], files: list[Path]) -> None:
        """After the job (or later, from its record): the run completed and closed; raises when the tracker fails."""


# ------------------------------------------------------------------------------------------------- the entries


@LOGGER.register("csv")
class CSV(Tracker):
    """Every epoch's metrics in <job>/logs/metrics.csv (Lightning's CSVLogger; a later attempt of the job logs
    beside the earlier ones')."""

    def start(self) -> Any:
        from lightning.pytorch.loggers import CSVLogger  # (Lightning: only where a job trains)

        return CSVLogger(save_dir=str(self.job.folder), name="logs", version=self.job.version)


@LOGGER.register("tensorboard")
class TensorBoard(Tracker):
    """Every epoch's metrics as TensorBoard events in <job>/tensorboard/ (Lightning's TensorBoardLogger)."""

    needs = ("tensorboard", "tensorboard")

    def start(self) -> Any:
        from lightning.pytorch.loggers import TensorBoardLogger  # (Lightning: only where a job trains)

        return TensorBoardLogger(save_dir=str(self.job.folder), name="tensorboard", version=self.job.version)


@LOGGER.register("mlflow")
class MLflow(Tracker):
    """One MLflow run per job in its sweep folder's experiment: identity params, every epoch's metrics (step: the
    epoch), the final metrics of metrics.json and the job's files as artifacts.

    Args:
        tracking_uri: the store; null: the embedded SQLite store outputs/mlflow.db (nothing to start), or a
            server (http://host:5000) or database (postgresql://...).
        experiment_name: null: the sweep folder's resolved path (one experiment per sweep folder).
        tags: added to every run.
    """

    needs = ("mlflow", "track")
    replayable = True

    def __init__(self, job: JobTrackers, *, tracking_uri: str | None = None, experiment_name: str | None = None,
                 tags: Mapping = EMPTY):
        super().__init__(job)
        self.uri = tracking_uri or mlflow_store.default_uri()
        self.experiment = experiment_name or str(job.folder.parent.resolve())
        self.tags = {str(k): str(v) for k, v in dict(tags).items()}
        self.run_id: str | None = None
        self.continued = False

    @classmethod
    def check(cls, *, tracking_uri: str | None = None, **_: Any) -> None:
        mlflow_store.check(tracking_uri or mlflow_store.default_uri())

    @classmethod
    def prepare(cls, *, tracking_uri: str | None = None, experiment_name: str | None = None, **_: Any) -> None:
        if experiment_name:  # (the planner names it; a job without a plan makes its experiment itself)
            mlflow_store.prepare(tracking_uri or mlflow_store.default_uri(), experiment_name)

    def destination(self) -> str:
        return redact(self.uri)

    def _tags(self) -> dict[str, str]:
        folder = self.job.folder.resolve()
        tags = {"se_variants.job": folder.name, "se_variants.folder": str(folder), **self.tags}
        experiment = Path(self.experiment)
        if experiment.is_absolute() and experiment in folder.parents and experiment != folder.parent:
            tags["se_variants.subfolder"] = str(folder.parent.relative_to(experiment))  # a search's confirm/
        if self.job.rerun:
            tags["se_variants.rerun"] = "true"
        return tags

    def _client(self) -> Any:
        import mlflow  # (an optional library, and a heavy one)

        mlflow_store.client_settings()
        mlflow_store.prepare(self.uri, self.experiment, if_needed=True)
        return mlflow.MlflowClient(tracking_uri=self.uri)

    def _run(self, client: Any) -> tuple[str, bool]:
        """(the job's run in this store, whether it existed): the run of an earlier attempt, else a new one."""
        from mlflow.entities import Param  # (an optional library)

        known = None if self.job.new_runs else self.state().get("run")
        if known:
            try:
                if client.get_run(known).info.lifecycle_stage == "active":
                    return known, True
            except Exception:  # noqa: BLE001 -- deleted, or of another store: start a new run
                pass
        experiment = client.get_experiment_by_name(self.experiment)
        run = client.create_run(experiment.experiment_id, run_name=self.job.folder.name, tags=self._tags())
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in _params(self.job.identity).items()])
        return run.info.run_id, False

    def start(self) -> Any:
        from lightning.pytorch.loggers import MLFlowLogger  # (Lightning: only where a job trains)

        from .lit import TrackerLogger  # (Lightning: only where a job trains)

        client = self._client()
        self.run_id, self.continued = self._run(client)
        self.job.save(self, run=self.run_id, synced=False)
        logger = MLFlowLogger(experiment_name=self.experiment, tracking_uri=self.uri, run_id=self.run_id,
                              log_model=False)
        return TrackerLogger(logger, _last_epochs(client, self.run_id) if self.continued else {}, epoch_steps=True)

    def finish(self, record: dict[str, Any], files: list[Path]) -> None:
        from mlflow.entities import Metric  # (an optional library)

        client = self._client()
        if self.run_id is None:  # not started in this process: a finished job's run, completed from its record
            self.run_id, self.continued = self._run(client)
            self.job.save(self, run=self.run_id, synced=False)
        gaps = self.run_id is not None and (self.continued or self.live is None or self.live.lost)
        have = _last_epochs(client, self.run_id) if gaps else None
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value, step in _points(record, have)]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a call
            client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
        for path in files:
            client.log_artifact(self.run_id, str(path))
        client.set_terminated(self.run_id, RUN_STATUS.get(record.get("status"), "FAILED"))


@LOGGER.register("wandb")
class Wandb(Tracker):
    """One Weights & Biases run per job, grouped by sweep folder; offline, written into the job folder when the job
    ends (one run folder per job) for a later wandb sync.

    Args:
        project: the W&B project.
        entity: the W&B user or team (null: your default).
        group: null: the sweep folder's name.
        mode: online | offline | disabled; null: wandb's own (WANDB_MODE, else online).
        tags: added to every run.
    """

    needs = ("wandb", "track")
    replayable = True
    #: seconds wandb.init waits for W&B's servers (W&B's own default: 90), unless WANDB_INIT_TIMEOUT says
    INIT_TIMEOUT_S = 30.0

    def __init__(self, job: JobTrackers, *, project: str = "se-variants", entity: str | None = None,
                 group: str | None = None, mode: Literal["online", "offline", "disabled"] | None = None,
                 tags: tuple[str, ...] = ()):
        super().__init__(job)
        self.project, self.entity, self.group, self.tags = project, entity, group, list(tags)
        self.mode = mode or os.environ.get("WANDB_MODE") or "online"

    @classmethod
    def check(cls, *, mode: str | None = None, **_: Any) -> None:
        if mode is None and os.environ.get("WANDB_MODE") not in (None, "", "online", "offline", "disabled"):
            raise ValueError(f"logger.wandb.mode: null takes WANDB_MODE from the environment, which is "
                             f"{os.environ['WANDB_MODE']!r}; set it to online, offline or disabled (or set "
                             f"logger.wandb.mode).")
        if (mode or os.environ.get("WANDB_MODE") or "online") != "online":
            return
        import wandb  # (an optional library)

        try:  # the credentials a job would log in with (not checked against the server: no request is made)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                wandb.login(verify=False)
        except Exception as err:  # noqa: BLE001 -- no key, a malformed one, a prompt that cannot be shown
            raise ValueError(f"logger.wandb: W&B online needs a login ({_reason(err)}): run `wandb login` or set "
                             f"WANDB_API_KEY, or log offline (logger.wandb.mode=offline, then wandb sync).") from None

    def destination(self) -> str:
        return f"{self.mode}:{self.entity or ''}/{self.project}"

    def _run_id(self) -> str:
        known = None if self.job.new_runs else self.state().get("run")
        return known or uuid.uuid4().hex[:12]

    def _init_args(self, run_id: str) -> dict[str, Any]:
        import wandb  # (an optional library)

        return {"project": self.project, "entity": self.entity, "group": self.group or self.job.folder.parent.name,
                "name": self.job.folder.name, "id": run_id, "resume": "allow", "mode": self.mode,
                "tags": [*self.tags, *(["rerun"] if self.job.rerun else [])], "config": _params(self.job.identity),
                "settings": wandb.Settings(silent=True, console="off", x_disable_stats=self.mode == "offline",
                                           init_timeout=float(os.environ.get("WANDB_INIT_TIMEOUT")
                                                              or self.INIT_TIMEOUT_S))}

    def start(self) -> Any:
        if self.mode != "online":  # offline: written when the job ends, so that a killed attempt leaves no folder
            return None
        from lightning.pytorch.loggers import WandbLogger  # (Lightning: only where a job trains)

        from .lit import TrackerLogger  # (Lightning: only where a job trains)

        import wandb  # (an optional library)

        run_id = self._run_id()
        self.job.save(self, run=run_id, synced=False)
        with _argv_redacted():
            run = wandb.init(dir=str(self.job.folder), **self._init_args(run_id))
        last = run.summary.get("epoch")  # a resumed run: the epochs it holds are not logged again
        return TrackerLogger(WandbLogger(experiment=run), {} if last is None else {"*": int(last)})

    def finish(self, record: dict[str, Any], files: list[Path]) -> None:
        if self.mode == "disabled":
            return
        import wandb  # (an optional library)

        if self.live is not None:
            run = self.live.inner.experiment
        else:
            run_id = self._run_id()
            self.job.save(self, run=run_id, synced=False)
            if self.mode == "offline":  # one run folder per job: an unfinished one of this run is replaced
                for stale in (self.job.folder / "wandb").glob(f"offline-run-*-{run_id}"):
                    shutil.rmtree(stale, ignore_errors=True)
            with _argv_redacted():
                run = wandb.init(dir=str(self.job.folder), **self._init_args(run_id))
            if self.mode == "offline":  # the whole history at once (online, a missing run gets the final metrics)
                for row in _rows(record):
                    run.log(row)
        try:
            run.summary.update({k: v for k, v, _ in _points(record, None) if k.startswith("final/")})
            for path in files:  # files in the run's folder are the run's files (uploaded, or synced later)
                shutil.copyfile(path, Path(run.dir) / path.name)
        finally:
            run.finish(exit_code=0 if record.get("status") == "ok" else 1)


# ------------------------------------------------------------------------------------------------- a command's trackers


def options_of(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, options) of every tracker ``trainer.loggers`` names, its options from ``logger.<name>``."""
    nodes = cfg.get("logger") or {}
    return [(name, dict(nodes.get(name) or {})) for name in (cfg.get("trainer") or {}).get("loggers") or ()]


def missing_library(name: str) -> str | None:
    """The error message when the library of logger ``name`` is not installed, else None."""
    need = LOGGER.get(name).needs if name in LOGGER else None
    if need is None or importlib.util.find_spec(need[0]) is not None:
        return None
    return (f"trainer.loggers: {name} needs the {need[0]} package, which is not installed. Install it with: "
            f"pip install 'se-variants[{need[1]}]' (or drop it from trainer.loggers).")


def check_options(cfg: dict[str, Any]) -> None:
    """Every ``trainer.loggers`` name is a ``LOGGER`` entry whose library is installed, and every ``logger.<name>``
    node has that entry's options with their types ("did you mean"); raises ``SpecError`` / ``ValueError``
    naming the key. No I/O: :func:`check_destinations` looks at the stores."""
    nodes = cfg.get("logger") or {}
    if not isinstance(nodes, Mapping):
        raise ValueError(f"logger: expected a node of logger options (logger.mlflow.tracking_uri=...), got {nodes!r}.")
    for name in (cfg.get("trainer") or {}).get("loggers") or ():
        if name not in LOGGER:
            raise ValueError(f"trainer.loggers: unknown logger {name!r}.{suggest(str(name), LOGGER.names())} "
                             f"Available: {', '.join(LOGGER.names())}.")
        problem = missing_library(name)
        if problem:
            raise ValueError(problem)
    for name, options in nodes.items():
        if name not in LOGGER:
            raise ValueError(f"logger.{name}: unknown logger {name!r}.{suggest(str(name), LOGGER.names())} Loggers: "
                             f"{', '.join(LOGGER.names())}.")
        try:
            LOGGER.resolve({"name": name, **dict(options or {})})
        except SpecError as err:
            raise ValueError(f"logger.{name}: {err}") from None


def _destinations(configs: list[dict[str, Any]]) -> dict[str, tuple[type[Tracker], dict[str, Any]]]:
    """key → (tracker class, its checked options) of every distinct destination of these configs' trackers."""
    out: dict[str, tuple[type[Tracker], dict[str, Any]]] = {}
    for cfg in configs:
        for name, options in options_of(cfg):
            entry, checked = LOGGER.resolve({"name": name, **options})
            out.setdefault(f"{name}:{sorted((k, repr(v)) for k, v in checked.items())}", (entry.factory, checked))
    return out


def check_destinations(cfg: dict[str, Any], seen: set[str]) -> None:
    """The preflight of the stores ``cfg``'s trackers log to, each once (``seen``: the destinations checked
    before, updated); raises ``ValueError`` naming the store and the fix. Creates nothing."""
    for key, (factory, options) in _destinations([cfg]).items():
        if key not in seen:
            factory.check(**options)
            seen.add(key)


def fix_destinations(cfg: dict[str, Any], sweep_folder: Path) -> None:
    """Fill the options that depend on where the command runs (a job may run elsewhere): MLflow's store (the
    embedded one of this folder) and experiment (the sweep folder's resolved path: ``a/sw`` and ``b/sw`` are two
    experiments; a search's confirmation joins its search's)."""
    node = (cfg.get("logger") or {}).get("mlflow")
    if "mlflow" not in ((cfg.get("trainer") or {}).get("loggers") or ()) or not isinstance(node, dict):
        return
    node["tracking_uri"] = node.get("tracking_uri") or mlflow_store.default_uri()
    node["experiment_name"] = node.get("experiment_name") or str(Path(sweep_folder).resolve())


def prepare(configs: list[dict[str, Any]]) -> None:
    """Make every destination of these jobs ready (a fresh MLflow store created and its experiment made) before
    any of them starts; raises ``ValueError`` naming the store and the fix."""
    for factory, options in _destinations(configs).values():
        factory.prepare(**options)


def replay(cfg: dict[str, Any], folder: Path) -> list[str]:
    """Complete the tracker runs of a finished job that lack something -- its attempt lost them, or the job ran
    before the tracker was added -- from its ``metrics.json``; returns the names of the trackers brought up to
    date (an empty list when nothing was missing or the tracker is still unreachable)."""
    if not any(LOGGER.get(name).replayable for name, _ in options_of(cfg)):
        return []
    trackers = JobTrackers(cfg, folder)
    pending = [t for t in trackers.trackers if t.replayable and not t.state().get("synced")]
    if not pending:
        return []
    record, _ = load_record(trackers.folder / RESULT_FILE)
    if record is None or record.get("status") not in RUN_STATUS:  # (a finished job: ok, failed or pruned)
        return []
    trackers.trackers = pending
    files = [p for p in (trackers.folder / RESULT_FILE, trackers.folder / CONFIG_FILE) if p.is_file()]
    trackers.finish(record, files)
    return [t.name for t in pending if t.state().get("synced")]


def losses(folder: Path) -> list[str]:
    """What the trackers of the job in ``folder`` lost: ``"mlflow: <why>"`` per tracker (from trackers.json)."""
    states = read_json(Path(folder) / RUNS_FILE) or {}
    return [f"{name}: {entry.get('lost')}" for name, entry in states.items()
            if isinstance(entry, dict) and entry.get("synced") is False and entry.get("lost")]


def offline_runs(folders: list[Path]) -> list[Path]:
    """The W&B offline run folders of these jobs (what ``wandb sync`` uploads)."""
    return sorted(p for folder in folders for p in (Path(folder) / "wandb").glob("offline-run-*") if p.is_dir())


def after_command(jobs: list[tuple[str, Path]], sweep_dir: Path) -> None:
    """At the end of a command: name the tracker writes its jobs (label, folder) lost -- their results are
    complete; the next run of the command logs what the runs lack -- and say how to upload W&B's offline runs."""
    lost = [(label, why) for label, folder in jobs for why in losses(folder)]
    if lost:
        print(f"\n{len(lost)} tracker run(s) lost writes; the jobs' metrics.json and checkpoints are complete, and "
              f"the next run of this command logs what the runs lack:\n  "
              + "\n  ".join(f"{label}: {redact(' '.join(why.split())[:300])}" for label, why in lost),
              file=sys.stderr)
    runs = offline_runs([folder for _, folder in jobs])
    if runs:
        shown = " ".join(str(r) for r in runs) if len(runs) <= 3 else f"{sweep_dir}/*/wandb/offline-run-*"
        print(f"W&B: {len(runs)} offline run(s) in the job folders; upload them with: wandb sync {shown}")


def log_report(cfg: dict[str, Any], sweep_dir: Path, files: list[Path]) -> str | None:
    """The report files of a sweep as artifacts of the MLflow run ``<sweep> report`` in the sweep's experiment (one
    per sweep folder, found by its path; made once, updated by later runs of the command); returns its run id, or
    None without mlflow."""
    if "mlflow" not in ((cfg.get("trainer") or {}).get("loggers") or ()):
        return None
    import mlflow  # (an optional library, and a heavy one)

    _, options = LOGGER.resolve({"name": "mlflow", **((cfg.get("logger") or {}).get("mlflow") or {})})
    uri = options["tracking_uri"] or mlflow_store.default_uri()
    down = _down_reason(f"mlflow:{redact(uri)}")  # (the key of the jobs' MLflow tracker: its destination)
    if down:  # as a job of this process would: not waited for again
        raise ConnectionError(down)
    folder = str(Path(sweep_dir).resolve())
    name = options["experiment_name"] or folder
    mlflow_store.client_settings()
    with mlflow_store.quiet_mlflow():
        mlflow_store.prepare(uri, name, if_needed=True)
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment_id = client.get_experiment_by_name(name).experiment_id
        found = client.search_runs([experiment_id], filter_string=f"tags.`se_variants.kind` = '{REPORT_KIND}' and "
                                                                 f"tags.`se_variants.folder` = '{folder}'")
        run_id = found[0].info.run_id if found else client.create_run(
            experiment_id, run_name=f"{Path(folder).name} report",
            tags={"se_variants.kind": REPORT_KIND, "se_variants.folder": folder}).info.run_id
        for path in files:
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, "FINISHED")
    return run_id


# ------------------------------------------------------------------------------------------------- a job's trackers


class JobTrackers:
    """The trackers of one job (``trainer.loggers``), for its attempt: :meth:`start` before training gives the
    Lightning loggers; :meth:`finish` after ``metrics.json`` is written completes the runs; :meth:`close` after an
    interrupt. Never raises for a tracker that fails: what it lost is kept in ``trackers.json``.

    Args:
        cfg: the job's resolved config.
        folder: the job's folder.
        new_runs: a re-run of a finished job (``rerun=true``): new runs, not the earlier ones.
    """

    def __init__(self, cfg: dict[str, Any], folder: Path, *, new_runs: bool = False):
        self.folder = Path(folder)
        self.new_runs = new_runs
        self.rerun = bool(cfg.get("rerun"))
        self.states: dict[str, Any] = read_json(self.folder / RUNS_FILE) or {}
        # a later attempt (resumed, restarted, re-run) logs beside the earlier ones' (Lightning would delete them)
        earlier = any((self.folder / d).is_dir() and any((self.folder / d).iterdir()) for d in ("logs", "tensorboard"))
        self.version = f"attempt-{stamp()}" if earlier else ""
        self.identity: dict[str, Any] = {}
        self.trackers: list[Tracker] = []
        for name, options in options_of(cfg):
            tracker = LOGGER.build({"name": name, **options}, self)
            tracker.name = name
            self.trackers.append(tracker)
        self._log: _LibraryLog | None = None

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def save(self, tracker: Tracker, **entry: Any) -> None:
        """Update ``tracker``'s entry of ``trackers.json``."""
        self.states[tracker.name] = {**tracker.state(), "destination": tracker.destination(), **entry}
        write_json(self.folder / RUNS_FILE, self.states)

    def start(self, record: dict[str, Any]) -> list[Any]:
        """The Lightning loggers of the job's trackers (a tracker that cannot start is left out and its loss kept)."""
        if not self.trackers:
            return []
        self.identity = record
        for tracker in self.trackers:  # (imported first: importing a library sets up its loggers, which are swapped)
            if tracker.needs:
                importlib.import_module(tracker.needs[0])
        self._log = _LibraryLog(self.folder / LOG_FILE)
        loggers = []
        for tracker in self.trackers:
            if not tracker.replayable:  # the file loggers: a disk that refuses them is the job's failure
                tracker.live = tracker.start()
            elif self._down(tracker):
                continue
            else:
                try:
                    tracker.live = tracker.start()
                except Exception as err:  # noqa: BLE001 -- a tracker that cannot be reached costs its logging
                    self._fail(tracker, f"it could not start ({_reason(err)})")
                    continue
                _DOWN.pop(f"{tracker.name}:{tracker.destination()}", None)
            if tracker.live is not None:
                loggers.append(tracker.live)
        return loggers

    def _down(self, tracker: Tracker) -> bool:
        """Whether ``tracker``'s destination failed moments ago in this process (its loss is kept: not tried)."""
        down = _down_reason(f"{tracker.name}:{tracker.destination()}")
        if down is None:
            return False
        tracker.failed = True
        self._lost(tracker, down)
        return True

    def _fail(self, tracker: Tracker, why: str) -> None:
        tracker.failed = True
        _DOWN[f"{tracker.name}:{tracker.destination()}"] = (time.monotonic(), why)
        self._lost(tracker, why)

    def _lost(self, tracker: Tracker, why: str) -> None:
        logging.getLogger("se_variants.trackers").warning("%s: %s", tracker.name, why)
        try:
            self.save(tracker, synced=False, lost=redact(why))
        except OSError:
            pass

    def finish(self, record: dict[str, Any], files: list[Path]) -> None:
        """Complete and close every replayable tracker's run from ``record`` (after ``metrics.json`` is written). A
        tracker that failed during the job is not tried again: its run is completed by the next command."""
        self.identity = record
        if self._log is None and self.trackers:
            self._log = _LibraryLog(self.folder / LOG_FILE)
        try:
            for tracker in self.trackers:
                if not tracker.replayable or tracker.failed or self._down(tracker):
                    continue
                if tracker.live is not None and tracker.live.error is not None:
                    self._fail(tracker, f"{tracker.live.lost} epoch log(s), the final metrics and files did not reach "
                                        f"it ({redact(tracker.live.error.splitlines()[0][:300])})")
                    continue
                try:
                    tracker.finish(record, files)
                except Exception as err:  # noqa: BLE001 -- the result is safe on disk; the tracker lost its writes
                    self._fail(tracker, f"the final metrics and files did not reach it ({_reason(err)})")
                    continue
                _DOWN.pop(f"{tracker.name}:{tracker.destination()}", None)
                self.save(tracker, synced=True, lost=None)
        finally:
            self.close()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def _argv_redacted() -> Iterator[None]:
    """``sys.argv`` redacted while a library records it (W&B's run metadata keeps the command line)."""
    saved = sys.argv[:]
    sys.argv[:] = redact_values(saved)
    try:
        yield
    finally:
        sys.argv[:] = saved


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return redact(f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__)


class _LibraryLog:
    """The tracker libraries' log lines go to ``path`` (not the console) until :meth:`close`."""

    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.saved = []
        for name in (*LIBRARY_LOGGERS, "se_variants.trackers"):
            lg = logging.getLogger(name)
            self.saved.append((lg, lg.handlers[:], lg.level, lg.propagate))
            lg.handlers, lg.propagate = [self.handler], False
            lg.setLevel(logging.INFO)

    def close(self) -> None:
        for lg, handlers, level, propagate in self.saved:
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        self.handler.close()


# ------------------------------------------------------------------------------------------------- metrics


def _params(record: dict[str, Any]) -> dict[str, str]:
    """What identifies a job in a tracker: its variant columns, seed and hashes."""
    keys = ("block", "squeeze", "excite", "gate", "seed", "config_hash", "variant_hash")
    return {k: ("" if record.get(k) is None else str(record.get(k))) for k in keys}


def _rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The metric rows a live run gets: one per epoch of the history, then the test metrics (at the epoch after
    the last, as Lightning logs them)."""
    rows = [dict(row) for row in record.get("history") or []]
    test = (record.get("metrics") or {}).get("test") or {}
    if test:
        rows.append({"epoch": record.get("epochs") or len(rows), **{f"test/{k}": v for k, v in test.items()}})
    return rows


def _points(record: dict[str, Any], have: dict[str, int] | None) -> list[tuple[str, float, int]]:
    """(key, value, step) of the record: every epoch's metrics and the test metrics (step: the epoch) the run
    lacks (``have``: the last epoch the run holds per key; None: only the final metrics), and the final ones."""
    out = []
    if have is not None:
        for row in _rows(record):
            epoch = int(row.get("epoch", 0))
            out += [(k, float(v), epoch) for k, v in row.items()
                    if k != "epoch" and isinstance(v, (int, float)) and epoch > have.get(k, -1)]
    out += [(f"final/{stage}/{key}", float(value), 0) for stage, values in (record.get("metrics") or {}).items()
            for key, value in values.items() if isinstance(value, (int, float))
            and (have is None or f"final/{stage}/{key}" not in have)]
    return out


def _last_epochs(client: Any, run_id: str) -> dict[str, int]:
    """key → the last step (epoch) the MLflow run holds, for every metric it has."""
    run = client.get_run(run_id)
    return {key: max((m.step for m in client.get_metric_history(run_id, key)), default=-1)
            for key in run.data.metrics}
