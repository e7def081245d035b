"""Loading a trained job for ``se-variants inspect``: its network rebuilt from its own checkpoint, its config,
record and data (:func:`load_job`).

A job folder is data, and data never chooses code: only the modules named with ``imports`` are imported (never
the ``imports`` a job's record or checkpoint lists), and weights are read only from a checkpoint of the job's own
config (``weights_only``; a checkpoint of another job is refused). A job that did not finish is loaded from its
last checkpoint, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..registry import COMPOSE, EXCITE, GATE, NONE, PRESET, SQUEEZE, Registry, SpecError
from ..spec import PART_KEYS, split_block
from .checkpoints import LAST_CKPT, CheckpointError, config_diff, epochs_done, load_checkpoint, selected
from .data import DATA, DataError
from .identity import config_hashes
from .models import MODEL
from .registries import OPTIM, SCHEDULE
from .results import RESULT_FILE, load_record
from .tables import one_line
from .validate import ConfigError, block_spec, import_user_modules, model_node

__all__ = ["InspectError", "LoadedJob", "load_job"]


class InspectError(ValueError):
    """A job that cannot be inspected, or a bad option; the message says why and what to do."""


@dataclass
class LoadedJob:
    """A trained job, ready to run: ``model`` (eval mode, CPU, weights from ``checkpoint``), its resolved
    ``config`` (plain values), its ``record`` (metrics.json, or None when missing or unreadable) and its data
    ``splits`` (training augmentation off).

    ``epoch``: the epochs the checkpoint holds (finished epochs; None when it does not say); ``status``: the
    record's status (``ok``, ``failed``, ``running``), or ``unknown`` without a valid record; ``warning``: why the
    result may not be the job's final one (it did not finish, or its record is missing), else None;
    ``imports``: the modules imported for it (``--imports``).
    """

    job_dir: Path
    checkpoint: Path
    model: nn.Module
    config: dict[str, Any]
    record: dict[str, Any] | None
    splits: Any
    epoch: int | None = None
    status: str = "unknown"
    warning: str | None = None
    imports: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ loading


def _data_node(data: dict[str, Any]) -> dict[str, Any]:
    """The job's data node with training augmentation off where the dataset has the option (inspection looks at
    the images themselves, not random crops of them)."""
    node = dict(data)
    try:
        entry, _ = DATA.resolve({"name": node["name"]})
        if "augment" in entry.options:
            node["augment"] = False
    except Exception:  # an unknown dataset fails with its own message when built below
        pass
    return node


def load_job(job_dir: Path | str, checkpoint: Path | str | None = None, *,
             imports: Sequence[str] | None = None) -> LoadedJob:
    """Rebuild a finished (or interrupted) job's network from its checkpoint.

    Args:
        job_dir: the job's folder (``metrics.json``, ``checkpoints/last.ckpt``).
        checkpoint: another checkpoint of this job; default ``<job_dir>/checkpoints/last.ckpt``.
        imports: modules to import first (where the job's own ops are registered, e.g. the modules it was
            trained with under ``imports:``). Only these are imported: the ``imports`` a job's record or
            checkpoint lists are never imported (a folder must not choose what code runs).

    The checkpoint is read with ``torch.load(..., weights_only=True)`` (nothing in it can run code); only its
    ``state_dict`` (keys ``model.<name>``) and ``hyper_parameters`` (the job's resolved config) are used -- or,
    for a job with ``trainer.select=min_train_loss``, the weights it selected (the ones it tested). It must
    be of the job's own config (same config hash as the ``config`` of the job's metrics.json, or, when that is
    missing or broken, of the job's own last.ckpt). Raises :class:`InspectError`: for a checkpoint of another
    config (naming the keys that differ), for an op of the job's config that is not registered in this process
    (naming it and the modules to pass), and for anything else that cannot be inspected.
    """
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise InspectError(f"{job_dir} is not a folder; pass a job folder (one with {RESULT_FILE} and "
                           f"{LAST_CKPT}), e.g. outputs/ablate/digits/<job>.")
    has_record = (job_dir / RESULT_FILE).is_file()
    record, problem = load_record(job_dir / RESULT_FILE) if has_record else (None, None)
    own = job_dir / LAST_CKPT
    path = Path(checkpoint) if checkpoint is not None else own
    if not path.is_file():
        status = f" (its {RESULT_FILE} says status {record['status']!r})" if record else ""
        hint = (" It has no job record either: is this a sweep folder? Pass one of its job folders."
                if not has_record else
                " Checkpoints are written at epoch ends (checkpoint_every_s); a job that stopped before its first "
                "has none. Re-run the job, or pass --ckpt <file>.")
        raise InspectError(f"no checkpoint at {path}{status}.{hint}")
    is_own = path.resolve() == own.resolve()
    ckpt, config = _read_checkpoint(path)
    _check_belongs(job_dir, path, config, record, problem, own, is_own)
    if not ("model" in config and "block" in config and "data" in config):
        raise InspectError(f"{path} holds no runner config (its hyper_parameters lack model, block or data); "
                           f"pass a checkpoint written by se-variants train.")
    names = [str(m) for m in imports or ()]
    try:
        import_user_modules(names)
        spec = block_spec(config)
    except ConfigError as err:
        raise InspectError(f"{job_dir}: {err}") from None
    missing = _missing_ops(config)
    if missing:
        raise InspectError(_missing_message(missing, config.get("imports"), names))
    if spec is None:
        raise InspectError(f"{job_dir} was trained with block=none: its model has no attention blocks, so there is "
                           f"no excitation to inspect. Inspect a job trained with a block (e.g. the "
                           f"squeeze=avg excite=fc job of the same sweep).")
    try:
        splits = DATA.build(_data_node(config["data"]))
    except (DataError, SpecError, OSError) as err:
        raise InspectError(f"cannot load the data of {job_dir} ({type(err).__name__}: {err}). A relative data.root "
                           f"is relative to where the job was trained: run inspect from there, or set "
                           f"SE_VARIANTS_DATA.") from None
    try:
        model = MODEL.build(model_node(config), splits.in_channels, splits.num_classes, spec)
    except (SpecError, TypeError, ValueError) as err:
        raise InspectError(f"cannot build the network of {job_dir} from its config (was an op changed since it "
                           f"was trained?): {type(err).__name__}: {one_line(err, 600)}") from None
    chosen = selected(ckpt) if (config.get("trainer") or {}).get("select") == "min_train_loss" else None
    state = chosen["state"] if chosen is not None else \
        {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InspectError(f"the checkpoint {path} does not fit the network its config builds (was an op changed "
                           f"since it was trained?): {one_line(err, 600)}") from None
    model.eval()
    epoch = epochs_done(ckpt) or None
    status = record["status"] if record is not None else "unknown"
    warning = _unfinished(record, problem, is_own, epoch, (config.get("trainer") or {}).get("max_epochs"))
    return LoadedJob(job_dir, path, model, config, record, splits, epoch, status, warning, names)


def _read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise InspectError(f"{err}. Pass a checkpoint written by se-variants train (<job>/{LAST_CKPT}).") from None


def _check_belongs(job_dir: Path, path: Path, config: dict[str, Any], record: dict[str, Any] | None,
                   problem: str | None, own: Path, is_own: bool) -> None:
    """Refuse a checkpoint whose config is not the job's: inspect writes what it finds into the job's folder, as
    the job's. The job's config is its record's, or its own last.ckpt's when the record is missing or broken."""
    if record is not None:
        ours, source = record["config"], f"its {RESULT_FILE}"
    elif not is_own and own.is_file():
        ours, source = _read_checkpoint(own)[1], str(own)
    elif not is_own:
        why = f"cannot be read: {problem}" if problem else "is missing"
        raise InspectError(f"{job_dir} has no config of its own to check {path} against (its {RESULT_FILE} {why}, "
                           f"and it has no {LAST_CKPT}), so whether the checkpoint belongs to it cannot be checked. "
                           f"Inspect the job folder the checkpoint came from.")
    else:
        return  # the job's own last.ckpt, and nothing else says what the job's config is
    if config_hashes(config)["config_hash"] != config_hashes(ours)["config_hash"]:
        raise InspectError(
            f"{path} is not a checkpoint of {job_dir}: it was written by a job of another config than {source} "
            f"holds ({config_diff(config, ours)}; the checkpoint's value first). inspect writes its results into "
            f"the job's folder as the job's, so it reads only the job's own checkpoints: inspect the folder of the "
            f"job that wrote the checkpoint instead.")


#: what a registry is called in messages (the runner's config key)
_KINDS: tuple[tuple[str, Registry], ...] = (("squeeze", SQUEEZE), ("excite", EXCITE), ("gate", GATE),
                                            ("model", MODEL), ("data", DATA), ("optim", OPTIM),
                                            ("schedule", SCHEDULE))


def _missing_ops(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of every op, block, model, dataset, optimizer or schedule the config names that no registry
    of this process holds (a spec that is malformed in another way fails with its own message when built)."""
    registries = dict(_KINDS)
    missing: list[tuple[str, str]] = []

    def named(kind: str, spec: Any) -> None:
        try:
            name, _ = registries[kind].split(spec)
        except SpecError:
            return
        if name not in registries[kind] and (kind, name) not in missing:
            missing.append((kind, name))

    def block(spec: Any) -> None:
        try:
            name, options = split_block(spec)
        except SpecError:
            return
        if name == NONE:
            return
        registry = COMPOSE if name in COMPOSE else PRESET if name in PRESET else None
        if registry is None:
            if ("block", name) not in missing:
                missing.append(("block", name))
            return
        for key in PART_KEYS:
            if options.get(key) is not None:
                named(key, options[key])
        for key in getattr(registry.get(name), "block_lists", ()):
            children = options.get(key)
            for child in children if isinstance(children, (list, tuple)) else ():
                block(child)

    block(block_spec(config))
    for kind in ("model", "data", "optim", "schedule"):
        if config.get(kind) is not None:
            named(kind, config[kind])
    return missing


#: a module name as ``--imports`` takes it (what a job folder lists is shown in a hint only when it is one)
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _missing_message(missing: list[tuple[str, str]], trained_with: Any, imported: list[str]) -> str:
    what = ", ".join(f"{kind} {name!r}" for kind, name in missing)
    verb = "is" if len(missing) == 1 else "are"
    listed = trained_with if isinstance(trained_with, list) else []
    modules = [m for m in listed if isinstance(m, str) and _MODULE_NAME.fullmatch(m)][:20]
    if modules:
        hint = (f"it was trained with imports: [{', '.join(modules)}] -- pass --imports {','.join(modules)} to "
                f"import them")
    else:
        hint = "if a module of yours registers it, pass --imports <module> to import it"
    done = f" (imported here: {', '.join(imported)})" if imported else ""
    return f"the job uses {what}, which {verb} not registered here{done}; {hint} (inspect never imports modules " \
           f"named by a job folder)."


def _unfinished(record: dict[str, Any] | None, problem: str | None, last: bool, epoch: int | None,
                max_epochs: Any) -> str | None:
    """The warning for a job that may not have finished (None for one whose record says ok)."""
    of = f" of {max_epochs}" if isinstance(max_epochs, int) and epoch is not None else ""
    held = f"epoch {epoch}{of}" if epoch is not None else "epoch unknown"
    which = "its last checkpoint" if last else "the checkpoint given"
    if record is None:
        why = f"its {RESULT_FILE} cannot be read: {problem}" if problem else f"its {RESULT_FILE} is missing"
        return (f"warning: whether this job finished is unknown ({one_line(why, 300)}); inspecting {which} "
                f"({held}), which may hold an unfinished run.")
    if record["status"] == "ok":
        return None
    if record["status"] == "failed":
        error = record.get("error") or {}
        what = f"status failed: {one_line(error.get('type') or 'unknown error', 80)}"
    else:
        what = "status running: still training, or killed before it finished"
    return f"warning: this job did not finish ({what}); inspecting {which} ({held})."
