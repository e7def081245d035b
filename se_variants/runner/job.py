"""One training job, the code path shared by ``se-variants train``, its sweeps and ``se-variants ablate`` under
every launcher: config in, ``metrics.json`` out.

What a job guarantees (README, "Resume, re-runs and concurrent runs"):

* **claimed**: a job trains only after claiming its folder (:mod:`.claims`); a folder claimed by a live process
  is left alone (the call returns a ``busy`` record and writes nothing);
* **done once**: a config whose finished result (same config hash) is already under the results root is not run
  again (unless ``rerun``);
* **exact resume**: a killed job continues from ``checkpoints/last.ckpt`` and ends with the metrics an
  uninterrupted run gives; a checkpoint of another config is refused, a corrupt one is moved aside and the job
  restarts from scratch -- both recorded;
* **honest records**: ``metrics.json`` is written atomically when the job starts (``running``) and when it ends
  (``ok`` / ``failed``); ``attempts`` lists every attempt (killed ones included) and ``wall_time_s`` sums them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from typing import Any

import torch

from ..registry import spec_to_dict
from .claims import Owner, acquire
from .identity import config_hashes, identity_config, variant_columns
from .results import RESULT_FILE, find_done, load_record, write_json
from .validate import block_spec, import_user_modules

__all__ = ["run_job", "JobConflict", "CheckpointError", "checkpoint_config", "check_checkpoint", "versions",
           "SCHEMA_VERSION", "LAST_CKPT"]

#: version of the metrics.json layout (2: attempts, per_class, world_size, history, time_s)
SCHEMA_VERSION = 2
LAST_CKPT = Path("checkpoints") / "last.ckpt"


class JobConflict(RuntimeError):
    """The job folder already holds a finished result of a different config; it is left untouched."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, or written by a job of another config."""


def versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that decide the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("se-variants", "torch", "lightning", "torchmetrics", "hydra-core", "omegaconf", "torchvision",
                 "timm", "scikit-learn", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _now(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.timezone.utc).isoformat(
        timespec="milliseconds")


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


# ------------------------------------------------------------------------------------------------- checkpoints


def checkpoint_config(path: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the checkpoint, the resolved config of the job that wrote it), loaded with ``weights_only=True`` (a
    checkpoint can hold only tensors and plain values, never code). Raises :class:`CheckpointError`."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, a pickle asking for code, ...
        msg = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({type(err).__name__}: {msg})") from None
    cfg = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(cfg, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a se-variants job checkpoint (no state_dict and config).")
    return ckpt, cfg


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def check_checkpoint(path: Path | str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Load ``path`` and check that a job of config ``cfg`` may resume from it (same config hash); returns the
    checkpoint. Raises :class:`CheckpointError` naming the keys in which the two configs differ."""
    ckpt, theirs = checkpoint_config(path)
    if config_hashes(theirs)["config_hash"] != config_hashes(cfg)["config_hash"]:
        a, b = _flat(identity_config(theirs)), _flat(identity_config(cfg))
        diff = [f"{k}: {a.get(k, '(unset)')!r} → {b.get(k, '(unset)')!r}" for k in sorted(set(a) | set(b))
                if a.get(k, "(unset)") != b.get(k, "(unset)")]
        raise CheckpointError(
            f"{path} was written by a job of another config ({'; '.join(diff[:6])}"
            f"{'; ...' if len(diff) > 6 else ''}). A job resumes only from a checkpoint of its own config, so that "
            f"its result is the result of that config; start this job from scratch (drop ckpt_path) or run the "
            f"checkpoint's own config.")
    return ckpt


def _set_aside(path: Path, why: str) -> Path:
    """Move ``path`` to ``<path>.<why>-<time>`` (kept for inspection, never deleted)."""
    target = path.with_name(f"{path.name}.{why}-{_stamp()}")
    os.replace(path, target)
    return target


def _resume_from(cfg: dict[str, Any], job_dir: Path, previous: dict[str, Any] | None,
                 notes: list[str]) -> tuple[str | None, int | None]:
    """(checkpoint to resume from, its epoch) -- or (None, None) to start from scratch. Explicit ``ckpt_path``
    must be of this config (raises CheckpointError); the job's own last.ckpt is used when it is of this config,
    moved aside (and noted) when it is corrupt or of another config."""
    if cfg.get("ckpt_path"):
        path = Path(cfg["ckpt_path"]).expanduser()
        if not path.is_file():
            raise CheckpointError(f"ckpt_path={cfg['ckpt_path']!r} is not a file; pass a checkpoint such as "
                                  f"<job folder>/{LAST_CKPT}.")
        return str(path), _epochs_done(check_checkpoint(path, cfg))
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
    return str(last), _epochs_done(ckpt)


def _history(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-epoch metrics kept in a checkpoint by :class:`~.lit.RunState`."""
    return list((ckpt.get("callbacks") or {}).get("se_variants.RunState", {}).get("history", []))


def _epochs_done(ckpt: dict[str, Any]) -> int:
    """How many epochs a checkpoint has finished (the index of the first epoch a resume trains)."""
    return len(_history(ckpt))


# ------------------------------------------------------------------------------------------------- training


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Silence Lightning's info lines and hints that do not apply (sweeps print their own progress)."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # Lightning's use of a torch deprecation
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _loggers(cfg: dict[str, Any], job_dir: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    # a later attempt (resumed, restarted, re-run) logs beside the earlier ones' (Lightning would delete them)
    earlier = any((job_dir / d).is_dir() and any((job_dir / d).iterdir()) for d in ("logs", "tensorboard"))
    version = f"attempt-{_stamp()}" if earlier else ""
    out = []
    for name in cfg["trainer"].get("loggers") or []:
        if name == "csv":
            out.append(CSVLogger(save_dir=str(job_dir), name="logs", version=version))
        else:
            out.append(TensorBoardLogger(save_dir=str(job_dir), name="tensorboard", version=version))
    return out


def _trainer(cfg: dict[str, Any], job_dir: Path, loggers: list[Any], callbacks: list[Any], **override: Any):
    import lightning as L

    t = {k: v for k, v in dict(cfg["trainer"]).items() if k != "loggers" and v is not None}
    t.update(override)
    # "warn": torch's deterministic algorithms, warning (not failing) on the few CUDA kernels that have none
    # (adaptive pooling and nearest-resize backward, used by some squeezes); on CPU every op is deterministic
    deterministic = "warn" if cfg["deterministic"] else False
    # RunState is the checkpoint callback (with it in the list Lightning adds no ModelCheckpoint of its own)
    return L.Trainer(**t, deterministic=deterministic, logger=loggers or False, callbacks=callbacks,
                     enable_checkpointing=bool(callbacks), use_distributed_sampler=False, default_root_dir=str(job_dir))


def _train(cfg: dict[str, Any], record: dict[str, Any], job_dir: Path, ckpt: str | None, quiet: bool,
           devices: list[int] | None = None) -> None:
    """Build, measure, fit, test; fills ``record`` in place as it goes."""
    import lightning as L

    from .data import DATA, ImageData
    from .lit import Classifier, RunState, per_class
    from .measure import count_flops, count_params, measure_latency
    from .models import MODEL

    clock = time.perf_counter()
    phases: dict[str, float] = {}
    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    splits = DATA.build(cfg["data"])
    record["data"] = {"name": cfg["data"]["name"], "sizes": splits.sizes(), "num_classes": splits.num_classes,
                      "image_size": list(splits.image_size)}
    model = MODEL.build(cfg["model"], splits.in_channels, splits.num_classes, block_spec(cfg))
    record["params"] = count_params(model)
    record["flops"] = count_flops(model, (1, splits.in_channels, *splits.image_size))
    lit = Classifier(model, splits.num_classes, cfg["optim"], cfg["schedule"], cfg["trainer"]["max_epochs"],
                     hparams=cfg)
    last = job_dir / LAST_CKPT
    last.parent.mkdir(parents=True, exist_ok=True)
    state = RunState(cfg["seed"], last, record["config_hash"])
    loggers = _loggers(cfg, job_dir)
    trainer = _trainer(cfg, job_dir, loggers, [state], **({"devices": devices} if devices else {}))
    phases["build_s"], clock = time.perf_counter() - clock, time.perf_counter()

    trainer.fit(lit, datamodule=ImageData(splits, cfg["seed"]), ckpt_path=ckpt, weights_only=True)
    if trainer.interrupted:
        raise KeyboardInterrupt("training was interrupted")
    record["world_size"] = trainer.world_size
    if not last.is_file() and ckpt is not None:  # resumed from a finished checkpoint elsewhere: nothing trained
        shutil.copyfile(ckpt, last)
    history = _history(checkpoint_config(last)[0])  # under DDP the ranks' callbacks are not this process's
    record["history"] = history
    record["epochs"] = len(history)
    metrics = state.final_metrics(history)
    phases["fit_s"], clock = time.perf_counter() - clock, time.perf_counter()

    # the test split on one device, every sample exactly once: after DDP, a one-device trainer of this process
    # (without loggers: the ranks wrote the logs, and a logger of this process would start them anew)
    tester = trainer if trainer.world_size == 1 else \
        _trainer(cfg, job_dir, [], [], devices=devices[:1] if devices else 1, strategy="auto", num_nodes=1)
    test = tester.test(lit, datamodule=ImageData(splits, cfg["seed"]), verbose=not quiet)[0]
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


# ------------------------------------------------------------------------------------------------- the job


def run_job(cfg: Any, job_dir: Path | str, overrides: list[str] | None = None, *,
            results_root: Path | str | None = None, quiet: bool = False,
            devices: list[int] | None = None) -> dict[str, Any]:
    """Train and test one config; write ``<job_dir>/metrics.json``; return its record.

    Args:
        cfg: the composed config (DictConfig or plain dict), already validated.
        job_dir: the job's folder (checkpoints, logs, metrics.json, claim.json).
        overrides: the job's command-line overrides (recorded; the report names variants by them).
        results_root: where finished results count as done (a sweep folder): when it holds a status-ok result
            of the same config hash (and ``rerun`` is false), nothing runs and that record is returned with
            ``skipped: True``. Default: ``job_dir``.
        quiet: silence Lightning's info lines (the caller prints its own progress).
        devices: the device indices to train on instead of ``trainer.devices`` (GPUs held for this job by
            :func:`.devices.claim_gpus`); not part of the job's identity.

    Returns the record. ``{"status": "busy", "owner": ..., ...}`` (nothing written) when another live process
    holds the folder's claim. A failure inside training is recorded as ``status: failed`` with the error and
    returned, not raised; Ctrl-C and SystemExit are recorded, then re-raised. Raises :class:`JobConflict` when
    ``job_dir`` holds a finished result of another config (never overwritten).
    """
    cfg = spec_to_dict(cfg)
    job_dir = Path(job_dir)
    hashes = config_hashes(cfg)
    root = Path(results_root or job_dir)

    def done() -> dict[str, Any] | None:
        found = None if cfg.get("rerun") else find_done(root, hashes["config_hash"])
        return None if found is None else {**found[1], "skipped": True, "job_dir": str(found[0])}

    if (record := done()) is not None:
        return record
    claim = acquire(job_dir)
    if isinstance(claim, Owner):
        return {"status": "busy", "owner": claim.describe(), "job_dir": str(job_dir), **hashes,
                "overrides": list(overrides or [])}
    with claim:
        if (record := done()) is not None:  # finished by another process between the first check and the claim
            return record
        return _run_claimed(cfg, job_dir, list(overrides or []), hashes, claim, quiet, devices)


def _run_claimed(cfg: dict[str, Any], job_dir: Path, overrides: list[str], hashes: dict[str, str], claim: Any,
                 quiet: bool, devices: list[int] | None) -> dict[str, Any]:
    path = job_dir / RESULT_FILE
    previous, problem = load_record(path) if path.exists() else (None, None)
    notes: list[str] = []
    if problem is not None:
        moved = _set_aside(path, "broken")
        notes.append(f"the previous {RESULT_FILE} could not be trusted ({problem}); moved to {moved.name}")
    if previous and previous["status"] == "ok" and previous["config_hash"] != hashes["config_hash"]:
        raise JobConflict(
            f"{job_dir} holds a finished result of a different config (config_hash {previous['config_hash']} "
            f"!= {hashes['config_hash']}: a base config changed since). It is kept; run into another sweep folder "
            f"(hydra.sweep.dir=...) or move it away.")
    same = previous is not None and previous["config_hash"] == hashes["config_hash"] and previous["status"] != "ok"
    attempts = [dict(a) for a in (previous.get("attempts") or [])] if same else []
    if attempts and attempts[-1].get("outcome") == "running":  # the process died without a word: killed
        last_seen = claim.stale.last_seen if claim.stale is not None else None
        began = dt.datetime.fromisoformat(attempts[-1]["started"]).timestamp()
        attempts[-1].update(outcome="killed", ended=_now(last_seen) if last_seen else None,
                            wall_time_s=round(max(last_seen - began, 0.0), 3) if last_seen else None)
    attempt: dict[str, Any] = {"started": _now(), "ended": None, "outcome": "running", "wall_time_s": None,
                               "host": socket.gethostname(), "pid": os.getpid(), "resumed_from": None,
                               "from_epoch": None, "notes": notes}
    attempts.append(attempt)
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "status": "running",
        "error": None,
        **variant_columns(cfg),
        "overrides": overrides,
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
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count(),
                 "argv": sys.argv},
        "config": cfg,
    }
    write_json(path, record)
    start = time.perf_counter()
    try:
        import_user_modules(cfg.get("imports"))
        ckpt, epoch = _resume_from(cfg, job_dir, previous, notes)
        attempt.update(resumed_from=ckpt, from_epoch=epoch)
        threads = torch.get_num_threads()
        try:
            with _quiet(quiet):
                _train(cfg, record, job_dir, ckpt, quiet, devices)
        finally:
            torch.set_num_threads(threads)
        record["status"] = "ok"
    except BaseException as err:  # recorded, then: Exceptions returned as failed jobs, Ctrl-C / exit re-raised
        record["status"] = "failed"
        if not isinstance(err, Exception):  # Ctrl-C, SIGTERM (Lightning exits), a launcher stopping the job
            record["error"] = {"type": "Interrupted", "message": f"stopped ({type(err).__name__}) before it finished; "
                               f"run it again to resume from its last finished epoch"}
            _finish(record, attempt, path, start, "interrupted")
            raise
        record["error"] = {"type": type(err).__name__, "message": str(err) or type(err).__name__,
                           "traceback": traceback.format_exc()}
    _finish(record, attempt, path, start, record["status"])
    return record


def _finish(record: dict[str, Any], attempt: dict[str, Any], path: Path, start: float, outcome: str) -> None:
    attempt.update(outcome=outcome, ended=_now(), wall_time_s=round(time.perf_counter() - start, 3))
    record["wall_time_s"] = round(sum(a.get("wall_time_s") or 0.0 for a in record["attempts"]), 3)
    record["finished"] = attempt["ended"]
    write_json(path, record)

