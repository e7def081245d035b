"""One training job, the code path shared by ``se-variants train``, its sweeps and ``se-variants ablate``:
config in, ``metrics.json`` out (written atomically, also when the job fails)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import platform
import sys
import time
import traceback
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..registry import spec_to_dict
from .identity import config_hashes, variant_columns
from .results import RESULT_FILE, find_done, read_json, write_json
from .validate import block_spec, import_user_modules

__all__ = ["run_job", "JobConflict", "versions"]

SCHEMA_VERSION = 1


class JobConflict(RuntimeError):
    """The job folder already holds a finished result of a different config; it is left untouched."""


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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Silence Lightning's info lines and the 'few dataloader workers' hint (used by ``ablate``)."""
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


def _resume_from(cfg: dict[str, Any], job_dir: Path, previous: dict[str, Any] | None, config_hash: str) -> str | None:
    if cfg.get("ckpt_path"):
        path = Path(cfg["ckpt_path"]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={cfg['ckpt_path']!r} is not a file; pass a checkpoint such as "
                                    f"<job folder>/checkpoints/last.ckpt.")
        return str(path)
    last = job_dir / "checkpoints" / "last.ckpt"
    # an interrupted or failed attempt of this very config continues; a finished one re-run (rerun=true) restarts
    if (cfg.get("resume", True) and last.is_file() and previous and previous.get("config_hash") == config_hash
            and previous.get("status") != "ok"):
        return str(last)
    return None


def _trainer(cfg: dict[str, Any], job_dir: Path, resumed: bool = False):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    t = dict(cfg["trainer"])
    # a resumed attempt logs beside the interrupted one's logs (Lightning's CSV logger would delete them)
    version = time.strftime("resumed-%Y%m%d-%H%M%S") if resumed else ""
    loggers = []
    for name in t.pop("loggers", ["csv"]):
        if name == "csv":
            loggers.append(CSVLogger(save_dir=str(job_dir), name="logs", version=version))
        else:
            loggers.append(TensorBoardLogger(save_dir=str(job_dir), name="tensorboard", version=version))
    # checkpoints/last.ckpt after every epoch, overwritten (save_last alone writes only when a top-k file was saved)
    checkpoint = ModelCheckpoint(dirpath=str(job_dir / "checkpoints"), filename="last", save_top_k=1, monitor=None,
                                 every_n_epochs=1, enable_version_counter=False)
    kwargs = {k: v for k, v in t.items() if v is not None}
    # "warn": torch's deterministic algorithms, warning (not failing) on the few CUDA kernels that have none
    # (adaptive pooling and nearest-resize backward, used by some squeezes); on CPU every op is deterministic
    deterministic = "warn" if cfg["deterministic"] else False
    return L.Trainer(**kwargs, deterministic=deterministic, logger=loggers or False, callbacks=[checkpoint],
                     default_root_dir=str(job_dir))


def _train(cfg: dict[str, Any], record: dict[str, Any], job_dir: Path, ckpt: str | None, quiet: bool) -> None:
    """Build, measure, fit, test; fills ``record`` in place as it goes."""
    import lightning as L
    import torch

    from .data import DATA, ImageData
    from .lit import Classifier
    from .measure import count_flops, count_params, measure_latency
    from .models import MODEL

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
    trainer = _trainer(cfg, job_dir, resumed=ckpt is not None)
    data = ImageData(splits)
    record["resumed_from"] = ckpt
    trainer.fit(lit, datamodule=data, ckpt_path=ckpt)
    if trainer.interrupted:
        raise KeyboardInterrupt("training was interrupted")
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    test = trainer.test(lit, datamodule=data, verbose=not quiet)[0]
    metrics: dict[str, dict[str, float]] = {}
    for key, value in {**fit_metrics, **{k: float(v) for k, v in test.items()}}.items():
        stage, _, name = key.partition("/")
        if stage in ("train", "val", "test") and name:
            metrics.setdefault(stage, {})[name] = value
    record["metrics"] = metrics
    record["epochs"] = trainer.current_epoch
    m = cfg.get("measure") or {}
    record["latency_ms"] = measure_latency(model, (m.get("latency_batch", 1), splits.in_channels, *splits.image_size),
                                           repeats=m.get("latency_repeats", 20))
    record["latency_batch"] = m.get("latency_batch", 1)


def run_job(cfg: Any, job_dir: Path | str, overrides: list[str] | None = None, *,
            results_root: Path | str | None = None, quiet: bool = False) -> dict[str, Any]:
    """Train and test one config; write ``<job_dir>/metrics.json``; return its record.

    Args:
        cfg: the composed config (DictConfig or plain dict), already validated.
        job_dir: the job's folder (checkpoints, logs, metrics.json).
        overrides: the job's command-line overrides (recorded; the report names variants by them).
        results_root: where finished results count as done (a sweep folder): when it holds a status-ok result
            of the same config hash (and ``rerun`` is false), nothing runs and that record is returned with
            ``skipped: True``. Default: ``job_dir``.
        quiet: silence Lightning's info lines (the caller prints its own progress).

    A failure inside training is recorded as ``status: failed`` with the error and returned, not raised.
    Raises :class:`JobConflict` when ``job_dir`` holds a finished result of another config (never overwritten).
    """
    cfg = spec_to_dict(cfg)
    job_dir = Path(job_dir)
    hashes = config_hashes(cfg)
    if not cfg.get("rerun"):
        done = find_done(results_root or job_dir, hashes["config_hash"])
        if done is not None:
            return {**done[1], "skipped": True, "job_dir": str(done[0])}
    previous = read_json(job_dir / RESULT_FILE)
    if previous and previous.get("status") == "ok" and previous.get("config_hash") != hashes["config_hash"]:
        raise JobConflict(
            f"{job_dir} holds a finished result of a different config (config_hash {previous.get('config_hash')} "
            f"!= {hashes['config_hash']}: a base config changed since). It is kept; run into another sweep folder "
            f"(hydra.sweep.dir=...) or move it away."
        )
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "status": "running",
        "error": None,
        **variant_columns(cfg),
        "overrides": list(overrides or []),
        "seed": cfg.get("seed"),
        **hashes,
        "job": job_dir.name,
        "metrics": {},
        "epochs": None,
        "params": None,
        "flops": None,
        "latency_ms": None,
        "wall_time_s": None,
        "started": _now(),
        "finished": None,
        "versions": versions(),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count(), "argv": sys.argv},
        "config": cfg,
    }
    write_json(job_dir / RESULT_FILE, record)
    start = time.perf_counter()
    try:
        import_user_modules(cfg.get("imports"))
        ckpt = _resume_from(cfg, job_dir, previous, hashes["config_hash"])
        threads = torch.get_num_threads()
        try:
            with _quiet(quiet):
                _train(cfg, record, job_dir, ckpt, quiet)
        finally:
            torch.set_num_threads(threads)
        record["status"] = "ok"
    except BaseException as err:  # recorded, then: Exceptions returned as failed jobs, Ctrl-C / exit re-raised
        record["status"] = "failed"
        record["error"] = {"type": type(err).__name__, "message": str(err) or type(err).__name__,
                           "traceback": traceback.format_exc()}
        if not isinstance(err, Exception):
            _finish(record, job_dir, start)
            raise
    _finish(record, job_dir, start)
    return record


def _finish(record: dict[str, Any], job_dir: Path, start: float) -> None:
    record["wall_time_s"] = round(time.perf_counter() - start, 3)
    record["finished"] = _now()
    write_json(job_dir / RESULT_FILE, record)
