"""One training job, the code path shared by ``se-variants train``, its sweeps and ``se-variants ablate`` under
every launcher: config in, ``metrics.json`` out.

What a job guarantees (README, "Resume, re-runs and concurrent runs"):

* **claimed**: a job trains only after claiming its folder (:mod:`.claims`); a folder claimed by a live process
  is left alone (the call returns a ``busy`` record and writes nothing);
* **done once**: a folder that already holds a finished result of the same config is not trained again (unless
  ``rerun``); one that holds a finished result of another config is never overwritten (:class:`JobConflict`);
* **exact resume**: a killed job continues from ``checkpoints/last.ckpt`` and ends with the metrics an
  uninterrupted run gives; a checkpoint of another config is refused, a corrupt one is moved aside and the job
  restarts from scratch -- both recorded;
* **honest records**: ``metrics.json`` is written atomically when the job starts (``running``) and when it ends
  (``ok`` / ``failed``); ``attempts`` lists every attempt (killed ones included, timed up to the last sign of
  life of their process) and ``wall_time_s`` sums them; a credential in a URL of the config is written as ``***``
  (:mod:`.redact`), while the job uses the real one;
* **trackers never block it**: a tracker that fails costs its logging, never the result (:mod:`.trackers`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import platform
import shutil
import socket
import sys
import time
import traceback
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import torch
import yaml

from ..registry import spec_to_dict
from .checkpoints import (LAST_CKPT, CheckpointError, check_checkpoint, epochs_done, given_checkpoint, history,
                          load_checkpoint, selected)
from .claims import Claim, Owner, acquire
from .data import DATA
from .files import stamp, write_atomic, write_json
from .identity import config_hashes, variant_columns
from .measure import count_flops, count_params, measure_latency
from .models import MODEL
from .pruning import Pruned, TrialReporter
from .redact import redact, redact_values
from .results import PROGRESS_FILE, RESULT_FILE, load_record
from .schema import RUNNER_TRAINER_KEYS
from .trackers import CONFIG_FILE, JobTrackers
from .validate import block_spec, import_user_modules, model_node

__all__ = ["run_job", "JobConflict", "versions", "finish_lost", "SCHEMA_VERSION"]

#: version of the metrics.json layout (2: attempts, per_class, world_size, history, time_s)
SCHEMA_VERSION = 2


class JobConflict(RuntimeError):
    """The job folder already holds a finished result of a different config; it is left untouched."""


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that decide the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("se-variants", "torch", "lightning", "hydra-core", "omegaconf", "torchvision", "timm",
                 "scikit-learn", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _cpu_model() -> str | None:
    """The processor's model name (Linux: /proc/cpuinfo; elsewhere what the platform module says, or None)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


@functools.lru_cache(maxsize=1)
def _host() -> dict[str, Any]:
    return {"name": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu_model": _cpu_model()}


def _now(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.timezone.utc).isoformat(
        timespec="milliseconds")


def _set_aside(path: Path, why: str) -> Path:
    """Move ``path`` to ``<path>.<why>-<time>`` (kept for inspection, never deleted)."""
    target = path.with_name(f"{path.name}.{why}-{stamp()}")
    os.replace(path, target)
    return target


def _resume_from(cfg: dict[str, Any], job_dir: Path, previous: dict[str, Any] | None,
                 notes: list[str]) -> tuple[str | None, int | None]:
    """(checkpoint to resume from, its epoch) -- or (None, None) to start from scratch. Explicit ``ckpt_path``
    must be of this config (raises CheckpointError); the job's own last.ckpt is used when it is of this config,
    moved aside (and noted) when it is corrupt or of another config."""
    given = given_checkpoint(cfg)
    if given is not None:
        return str(given[0]), epochs_done(given[1])
    last = job_dir / LAST_CKPT
    if not last.is_file():
        return None, None
    if cfg.get("rerun") and previous is not None and previous.get("status") == "ok":
        last.unlink()  # the finished run's checkpoint: a re-run starts over
        return None, None
    if not cfg.get("resume", True):
        notes.append(f"resume=false: started from scratch; {last} will be overwritten")
        return None, None
    try:
        ckpt = check_checkpoint(last, cfg)
    except CheckpointError as err:
        moved = _set_aside(last, "corrupt" if "cannot be read" in str(err) else "other-config")
        notes.append(f"{err} -- moved to {moved.name}; the job restarted from scratch")
        return None, None
    return str(last), epochs_done(ckpt)


# ------------------------------------------------------------------------------------------------- training

#: Lightning's messages that are about Lightning, not about the run (shown with verbose=true)
_NOISE = (r".*does not have many workers.*", r".*is smaller than the logging interval.*", r".*LeafSpec.*",
          r".*litlogger.*", r".*Checkpoint directory .* exists and is not empty.*")


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence Lightning's banners, tips and info lines and the warnings that are not about the run."""
    if not enabled:
        yield
        return
    import lightning  # noqa: F401  (importing it sets its loggers' levels: set ours after)

    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _trainer(cfg: dict[str, Any], job_dir: Path, loggers: list[Any], callbacks: list[Any], **override: Any):
    import lightning as L

    t = {k: v for k, v in dict(cfg["trainer"]).items() if k not in RUNNER_TRAINER_KEYS and v is not None}
    t.update(override)
    # "warn": torch's deterministic algorithms, warning (not failing) on the few CUDA kernels that have none
    # (adaptive pooling and nearest-resize backward, used by some squeezes); on CPU every op is deterministic
    deterministic = "warn" if cfg["deterministic"] else False
    # RunState is the checkpoint callback (with it in the list Lightning adds no ModelCheckpoint of its own)
    return L.Trainer(**t, deterministic=deterministic, logger=loggers or False, callbacks=callbacks,
                     enable_checkpointing=bool(callbacks), use_distributed_sampler=False, default_root_dir=str(job_dir))


def skip_gpu_probes() -> bool:
    """On a machine without a GPU, hide the (absent) GPUs for this process -- ``CUDA_VISIBLE_DEVICES=""``, only
    when the variable is unset, torch was built with CUDA and no device is found -- and say whether it did.

    Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` for the whole process; with it, a CUDA build of
    torch answers every ``torch.cuda.is_available()`` by loading NVML again, and Adam asks at every step: about
    0.6 ms a step here, a tenth of a small model's step on the CPU. With no GPU visible the answer is immediate.
    Nothing else changes: there was no device to use."""
    if "CUDA_VISIBLE_DEVICES" in os.environ or not torch.backends.cuda.is_built() or torch.cuda.device_count():
        return False
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return True


def _train(cfg: dict[str, Any], record: dict[str, Any], job_dir: Path, ckpt: str | None,
           devices: list[int] | None = None, loggers: list[Any] | None = None) -> None:
    """Build, measure, fit, test; fills ``record`` in place as it goes."""
    import lightning as L

    from .lit import Classifier, ImageData, RunState, per_class  # (Lightning: only where a job trains)

    skip_gpu_probes()
    clock = time.perf_counter()
    phases: dict[str, float] = {}
    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    splits = DATA.build(cfg["data"])
    record["data"] = {"name": cfg["data"]["name"], "sizes": splits.sizes(), "num_classes": splits.num_classes,
                      "image_size": list(splits.image_size)}
    model = MODEL.build(model_node(cfg), splits.in_channels, splits.num_classes, block_spec(cfg))
    record["params"] = count_params(model)
    record["flops"] = count_flops(model, (1, splits.in_channels, *splits.image_size))
    lit = Classifier(model, splits.num_classes, cfg["optim"], cfg["schedule"], cfg["trainer"]["max_epochs"],
                     hparams=redact_values(cfg))
    last = job_dir / LAST_CKPT
    last.parent.mkdir(parents=True, exist_ok=True)
    search = cfg.get("search") or {}
    reporter = TrialReporter(search) if search.get("prune") else None  # a search's pruner, fed after every epoch
    select = cfg["trainer"].get("select", "last")
    state = RunState(cfg["seed"], last, record["config_hash"], every_s=cfg.get("checkpoint_every_s") or 0.0,
                     reporter=reporter, progress=job_dir / PROGRESS_FILE, select=select)
    # no validation split (val_fraction=0): no validation loop, and no val metrics recorded (not zeros)
    no_val = {} if len(splits.val) else {"limit_val_batches": 0}
    trainer = _trainer(cfg, job_dir, loggers or [], [state], **({"devices": devices} if devices else {}), **no_val)
    phases["build_s"], clock = time.perf_counter() - clock, time.perf_counter()

    data = ImageData(splits, cfg["seed"])
    trainer.fit(lit, datamodule=data, ckpt_path=ckpt, weights_only=True)
    if trainer.interrupted:
        raise KeyboardInterrupt("training was interrupted")
    record["world_size"] = trainer.world_size
    if not last.is_file() and ckpt is not None:  # resumed from a finished checkpoint elsewhere: nothing trained
        shutil.copyfile(ckpt, last)
    # under DDP the ranks' callbacks are not this process's: the history comes back through last.ckpt
    ckpt_state = None if trainer.world_size == 1 else load_checkpoint(last)[0]
    epochs = state.history if ckpt_state is None else history(ckpt_state)
    record["history"] = epochs
    record["epochs"] = len(epochs)
    metrics = state.final_metrics(epochs)
    record["selected"] = _select_weights(lit, select, state.selected if ckpt_state is None else selected(ckpt_state),
                                         len(epochs))
    phases["fit_s"], clock = time.perf_counter() - clock, time.perf_counter()

    # the test split on one device, every sample exactly once: after DDP, a one-device trainer of this process
    # (without loggers: the ranks wrote the logs, and a logger of this process would start them anew)
    tester = trainer if trainer.world_size == 1 else \
        _trainer(cfg, job_dir, [], [], devices=devices[:1] if devices else 1, strategy="auto", num_nodes=1, **no_val)
    test = tester.test(lit, datamodule=data, verbose=False)[0]
    metrics["test"] = {k.partition("/")[2]: float(v) for k, v in test.items() if k.startswith("test/")}
    record["metrics"] = metrics
    record["per_class"] = {"test": per_class(lit.test_confusion)}
    phases["test_s"], clock = time.perf_counter() - clock, time.perf_counter()

    m = cfg.get("measure") or {}
    record["latency_ms"] = measure_latency(model, (m.get("latency_batch", 1), splits.in_channels, *splits.image_size),
                                           repeats=m.get("latency_repeats", 20))
    record["latency_batch"] = m.get("latency_batch", 1)
    phases["measure_s"] = time.perf_counter() - clock
    record["time_s"] = {k: round(v, 3) for k, v in phases.items()}


def _select_weights(lit: Any, select: str, chosen: dict[str, Any] | None, epochs: int) -> dict[str, Any]:
    """Load the weights ``trainer.select`` chose into the model (the final ones stay for ``last``); what was
    chosen, for metrics.json: ``{"by", "epoch"}`` (0-based; with ``train/loss`` for min_train_loss)."""
    if select != "min_train_loss":
        return {"by": select, "epoch": epochs - 1}
    if chosen is None:  # no epoch had a finite training loss: the final weights are tested, and the record says so
        return {"by": select, "epoch": None, "note": "no epoch had a finite training loss; the final weights were "
                                                     "tested"}
    lit.model.load_state_dict(chosen["state"])
    return {"by": select, "epoch": chosen["epoch"], "train/loss": chosen["train/loss"]}


# ------------------------------------------------------------------------------------------------- the job


def run_job(cfg: Any, job_dir: Path | str, overrides: list[str] | None = None, *,
            devices: list[int] | None = None) -> dict[str, Any]:
    """Train and test one config; write ``<job_dir>/metrics.json``; return its record.

    Args:
        cfg: the resolved config (a plain dict, or a DictConfig), already checked by the planner.
        job_dir: the job's folder (checkpoints, logs, metrics.json, claim.json).
        overrides: the job's command-line overrides (recorded; the report names variants by them).
        devices: the device indices to train on instead of ``trainer.devices`` (GPUs held for this job by
            :func:`.devices.claim_gpus`); not part of the job's identity.

    Returns the record: ``{"status": "busy", "owner": ...}`` (nothing written) when another live process holds
    the folder's claim; the folder's finished record with ``skipped: True`` when it already holds this config's
    result (and ``rerun`` is false). A failure inside training is recorded as ``status: failed`` with the error
    and returned, not raised; Ctrl-C and SystemExit are recorded, then re-raised. Raises :class:`JobConflict`
    when ``job_dir`` holds a finished result of another config (never overwritten).
    """
    cfg = spec_to_dict(cfg)
    job_dir = Path(job_dir)
    hashes = config_hashes(cfg)
    claim = acquire(job_dir)
    if isinstance(claim, Owner):
        return {"status": "busy", "owner": claim.describe(), "job_dir": str(job_dir), **hashes,
                "overrides": list(overrides or [])}
    with claim:
        return _run_claimed(cfg, job_dir, list(overrides or []), hashes, claim, devices)


def _killed_until(job_dir: Path, claim: Claim | None) -> float | None:
    """The last sign of life of a killed attempt: the latest of its claim's heartbeat, its record's and its
    checkpoint's modification times (None when none is known)."""
    times = [claim.stale.last_seen] if claim is not None and claim.stale is not None else []
    for path in (job_dir / RESULT_FILE, job_dir / LAST_CKPT):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times) if times else None


def _close_killed(attempts: list[dict[str, Any]], job_dir: Path, claim: Claim | None,
                  outcome: str = "killed") -> None:
    """Mark a last attempt still ``running`` (its process died without a word) as ``outcome`` (``killed``, or
    ``interrupted`` for a job its launcher stopped), timed up to the last sign of life of its process."""
    if not attempts or attempts[-1].get("outcome") != "running":
        return
    began = dt.datetime.fromisoformat(attempts[-1]["started"]).timestamp()
    seen = _killed_until(job_dir, claim)
    end = max(seen, began) if seen is not None else None
    attempts[-1].update(outcome=outcome, ended=_now(end) if end is not None else None,
                        wall_time_s=round(end - began, 3) if end is not None else None)


def _run_claimed(cfg: dict[str, Any], job_dir: Path, overrides: list[str], hashes: dict[str, str], claim: Claim,
                 devices: list[int] | None) -> dict[str, Any]:
    path = job_dir / RESULT_FILE
    previous, problem = load_record(path) if path.exists() else (None, None)
    if previous is not None and previous["status"] == "ok":
        if previous["config_hash"] != hashes["config_hash"]:
            raise JobConflict(
                f"{job_dir} holds a finished result of a different config (config_hash {previous['config_hash']} "
                f"!= {hashes['config_hash']}: a base config changed since). It is kept; run into another sweep "
                f"folder (hydra.sweep.dir=...) or move it away.")
        if not cfg.get("rerun"):  # finished by another process between the plan and this claim
            return {**previous, "skipped": True, "job_dir": str(job_dir)}
    notes: list[str] = []
    if problem is not None:
        moved = _set_aside(path, "broken")
        notes.append(f"the previous {RESULT_FILE} could not be trusted ({problem}); moved to {moved.name}")
    same = previous is not None and previous["config_hash"] == hashes["config_hash"] and previous["status"] != "ok"
    attempts = [dict(a) for a in (previous.get("attempts") or [])] if same else []
    _close_killed(attempts, job_dir, claim)
    attempt: dict[str, Any] = {"started": _now(), "ended": None, "outcome": "running", "wall_time_s": None,
                               "host": socket.gethostname(), "pid": os.getpid(), "resumed_from": None,
                               "from_epoch": None, "notes": notes}
    rerun = bool(cfg.get("rerun")) and previous is not None and previous["status"] == "ok"
    if rerun:
        notes.append("rerun=true: trained again; the earlier result is replaced")
    attempts.append(attempt)
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "status": "running",
        "error": None,
        **variant_columns(cfg),
        "overrides": redact_values(overrides),
        "seed": cfg.get("seed"),
        **hashes,
        "job": job_dir.name,
        "metrics": {},
        "epochs": None,
        "params": None,
        "flops": None,
        "latency_ms": None,
        "wall_time_s": None,
        "started": attempts[0]["started"],
        "finished": None,
        "attempts": attempts,
        "versions": versions(),
        "host": {**_host(), "argv": redact_values(sys.argv)},
        "config": redact_values(cfg),
    }
    write_json(path, record)
    start = time.perf_counter()
    trackers: JobTrackers | None = None
    try:
        import_user_modules(cfg.get("imports"))
        trackers = JobTrackers(cfg, job_dir, new_runs=rerun)
        ckpt, epoch = _resume_from(cfg, job_dir, previous, notes)
        attempt.update(resumed_from=ckpt, from_epoch=epoch)
        threads = torch.get_num_threads()
        try:
            with _quiet(not cfg.get("verbose")):
                _train(cfg, record, job_dir, ckpt, devices, trackers.start(record))
        finally:
            torch.set_num_threads(threads)
        record["status"] = "ok"
    except Pruned as err:  # a search's pruner stopped the trial: a deliberate end, not an error
        record["status"] = "pruned"
        notes.append(str(err))
    except BaseException as err:  # recorded, then: Exceptions returned as failed jobs, Ctrl-C / exit re-raised
        record["status"] = "failed"
        if not isinstance(err, Exception):  # Ctrl-C, SIGTERM, a launcher stopping the job
            record["error"] = {"type": "Interrupted", "message": f"stopped ({type(err).__name__}) before it finished; "
                               f"run it again to resume from its last checkpoint"}
            _finish(record, attempt, path, start, "interrupted")
            if trackers is not None:
                trackers.close()
            raise
        record["error"] = {"type": type(err).__name__, "message": redact(str(err) or type(err).__name__),
                           "traceback": redact(traceback.format_exc())}
    _finish(record, attempt, path, start, record["status"])
    if trackers:  # after the record is written: a tracker that fails costs its logging, never the result
        with contextlib.suppress(OSError):  # (an artifact: without it, the trackers get metrics.json alone)
            write_atomic(job_dir / CONFIG_FILE, yaml.safe_dump(record["config"], sort_keys=False))
        trackers.finish(record, [p for p in (path, job_dir / CONFIG_FILE) if p.is_file()])
    return record


def _total_time(attempts: list[dict[str, Any]]) -> float:
    """A job's wall time: the sum of its attempts' (killed ones up to their last sign of life)."""
    return round(sum(a.get("wall_time_s") or 0.0 for a in attempts), 3)


def _finish(record: dict[str, Any], attempt: dict[str, Any], path: Path, start: float, outcome: str) -> None:
    attempt.update(outcome=outcome, ended=_now(), wall_time_s=round(time.perf_counter() - start, 3))
    record["wall_time_s"] = _total_time(record["attempts"])
    record["finished"] = attempt["ended"]
    write_json(path, record)


def finish_lost(job_dir: Path | str, why: str, *, kind: str = "Killed",
                outcome: str = "killed") -> dict[str, Any] | None:
    """Close the record of a job whose process died while training it (a worker killed by the system, a node
    lost): its last attempt becomes ``killed`` (timed up to the last sign of life), the record ``failed`` with
    ``why``, so the report shows it and the next run resumes it from its checkpoint. A launcher that stopped the
    job (an interrupt) closes it as ``kind="Interrupted", outcome="interrupted"``: its process may have ended
    before the job could write that itself (stopped between two writes of the record, or killed when it did not
    stop in time). Returns the record, or None when the folder has no record of a running attempt or its claim is
    held by a live process."""
    job_dir = Path(job_dir)
    path = job_dir / RESULT_FILE
    record, _ = load_record(path) if path.is_file() else (None, None)
    if record is None or record["status"] != "running":
        return record
    claim = acquire(job_dir)
    if isinstance(claim, Owner):
        return None
    with claim:
        record, _ = load_record(path)
        if record is None or record["status"] != "running":
            return record
        attempts = [dict(a) for a in record.get("attempts") or []]
        _close_killed(attempts, job_dir, claim, outcome)
        if attempts:
            notes = attempts[-1].setdefault("notes", [])
            notes.append(why)
        record.update(status="failed", attempts=attempts, error={"type": kind, "message": why},
                      wall_time_s=_total_time(attempts),
                      finished=attempts[-1].get("ended") if attempts else None)
        write_json(path, record)
        return record

