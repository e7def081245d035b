"""``se-variants inspect <job folder>``: what a trained job's attention learned -- SENet's "role of excitation"
analysis (Hu et al., TPAMI 2019, Sec. 7.2, Fig. 6 and 7) for any job the runner trained.

The job's checkpoint and config are loaded, a split is run through the network in eval mode, and the gate
output of every chosen attention block (:func:`se_variants.capture_scales`) is recorded per sample. Written into
``<job>/inspect/``:

* ``excitations.npz``: one array per block, named by the block's module name, of shape (samples, *scale
  shape without the batch); ``labels`` (samples,) int; ``indices`` (samples,) int, positions in the split.
* ``excitation_stats.csv``: per block: mean, std, min, max of the scale, the fractions above 0.9 and below 0.1,
  and class specificity (:func:`.excitations.class_specificity`).
* ``excitations_by_class.csv``: the plotted numbers: per block, class (and ``all``) and shown element, the mean,
  std and n.
* ``excitations_by_class.png`` (Fig. 6): one panel per block, the mean activation of a fixed seeded subset of
  channels per class and over all classes (dashed); spatial maps as mean maps per class.
* ``excitations_by_instance.png`` (Fig. 7): per block and class, mean ± std over the instances of the class.
* ``inspect.json``: what was inspected (checkpoint, the epochs it holds, the job's status, split, classes,
  samples, seed, shown channels, the modules imported).

A job folder is data, and data never chooses code: inspect imports only the modules named with ``--imports``
(never the ``imports`` a job's record or checkpoint lists), and reads weights only from a checkpoint of the job's
own config (``--ckpt`` of another job is refused). A job that did not finish is inspected from its last
checkpoint, with a warning.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..capture import attention_blocks, base_name, capture_scales
from ..compose import Fusion, Parallel, SEBlock, Serial
from ..gate import Gate
from ..registry import COMPOSE, EXCITE, GATE, NONE, PRESET, SQUEEZE, Registry, SpecError, suggest
from ..spec import PART_KEYS, split_block
from .checkpoints import LAST_CKPT, CheckpointError, config_diff, epochs_done, load_checkpoint, selected
from .data import DATA, DataError
from .excitation_plots import plot_by_class, plot_by_instance
from .excitations import SATURATED_HIGH, SATURATED_LOW, Profile, class_mean_rows, excitation_stats, profiles
from .files import FileProblem, replace_into, unwritable, write_atomic
from .identity import config_hashes
from .models import MODEL
from .registries import OPTIM, SCHEDULE
from .results import RESULT_FILE, load_record
from .tables import csv_text, one_line, text_table
from .validate import ConfigError, block_spec, import_user_modules

__all__ = ["InspectError", "LoadedJob", "Inspection", "load_job", "default_blocks", "dataset_labels",
           "select_samples", "record_scales", "inspect_job", "main", "SPLITS"]

SPLITS = ("train", "val", "test")
#: at most this many classes are drawn (every chosen class is in the npz and CSV files)
MAX_PLOTTED_CLASSES = 10
RESERVED = ("labels", "indices")


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


@dataclass
class Inspection:
    """What :func:`inspect_job` recorded and wrote.

    ``scales``: block name → array (samples, *scale shape); ``labels``, ``indices``: (samples,) int;
    ``stats``: one dict per block (the rows of excitation_stats.csv); ``shown``: block name → the element
    indices drawn (channels, or flat positions of branch × channel); ``files``: what was written.
    """

    job: LoadedJob
    split: str
    scales: dict[str, np.ndarray]
    labels: np.ndarray
    indices: np.ndarray
    stats: list[dict[str, Any]]
    shown: dict[str, list[int]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


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
        model = MODEL.build(config["model"], splits.in_channels, splits.num_classes, spec)
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


# ------------------------------------------------------------------------------------------------ choosing


def _library_types() -> tuple[type, ...]:
    """The module types that make up an attention block: compositions and the presets that are classes."""
    presets = tuple(PRESET.get(n) for n in PRESET.names() if isinstance(PRESET.get(n), type))
    return (SEBlock, Serial, Parallel, Fusion, *presets)


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` → ``["", "a", "a.b"]`` (strict ancestors, root first)."""
    parts = name.split(".") if name else []
    return [".".join(parts[:i]) for i in range(len(parts))]


def default_blocks(model: nn.Module, names: Sequence[str] | None = None) -> list[str]:
    """The blocks SENet's Fig. 6 shows: the last block of each stage and every block of the last stage.

    Args:
        model: a network with attention blocks.
        names: its block names (default: :func:`se_variants.attention_blocks`), in module order.

    A block's unit is its outermost attention module (CBAM's two gates share one); a stage is the deepest
    container (``nn.Sequential`` / ``nn.ModuleList``) above the unit whose children all have one type (ResNet
    stages hold residual units). Without such a container every block is chosen.
    """
    names = list(attention_blocks(model) if names is None else names)
    lib = _library_types()
    modules = dict(model.named_modules())
    stage_of, unit_of = {}, {}
    for name in names:
        unit = name
        for anc in reversed(_ancestors(name)):
            if anc and isinstance(modules.get(anc), lib):
                unit = anc
        stage = ""
        for anc in reversed(_ancestors(unit)):
            m = modules.get(anc)
            if isinstance(m, (nn.Sequential, nn.ModuleList)) and len(m) and len({type(c) for c in m}) == 1:
                stage = anc
                break
        stage_of[name], unit_of[name] = stage, unit
    stages = list(dict.fromkeys(stage_of[n] for n in names))
    last_unit = {s: [unit_of[n] for n in names if stage_of[n] == s][-1] for s in stages}
    return [n for n in names if stage_of[n] == stages[-1] or unit_of[n] == last_unit[stage_of[n]]]


def dataset_labels(dataset: Any) -> np.ndarray:
    """(N,) int labels of a dataset of (image, label) items: its ``labels`` / ``targets`` when it has them
    (no image is loaded), else every item's label."""
    for attr in ("labels", "targets"):
        value = getattr(dataset, attr, None)
        if value is not None and len(value) == len(dataset):
            return np.asarray(torch.as_tensor(value)).astype(np.int64)
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))], dtype=np.int64)


def select_samples(labels: np.ndarray, classes: Sequence[int] | None = None, per_class: int | None = None,
                   seed: int = 0) -> np.ndarray:
    """Indices (sorted) of the samples to inspect.

    Args:
        labels: (N,) int, the split's labels.
        classes: the classes to keep (default: every class present).
        per_class: at most this many samples per class, drawn without replacement with ``seed``
            (default: all of them).
    """
    present = sorted(set(labels.tolist()))
    chosen = present if classes is None else list(dict.fromkeys(int(c) for c in classes))
    missing = [c for c in chosen if c not in present]
    if missing:
        raise InspectError(f"class {missing[0]} has no sample in this split; classes present: "
                           f"{', '.join(map(str, present))}.")
    if per_class is not None and per_class < 1:
        raise InspectError(f"--per-class must be >= 1, got {per_class}.")
    rng = np.random.default_rng(seed)
    picked = []
    for c in chosen:
        idx = np.flatnonzero(labels == c)
        if per_class is not None and per_class < len(idx):
            idx = rng.choice(idx, per_class, replace=False)
        picked.append(idx)
    return np.sort(np.concatenate(picked)).astype(np.int64)


# ------------------------------------------------------------------------------------------------ recording


@torch.no_grad()
def record_scales(model: nn.Module, dataset: Any, indices: np.ndarray, blocks: Sequence[str] | None = None,
                  batch_size: int = 256) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run ``dataset[indices]`` through ``model`` (eval mode) and return (block name → (samples, *scale shape)
    float32 array, labels (samples,) int64), samples in the order of ``indices``."""
    from torch.utils.data import DataLoader, Subset

    model.eval()
    loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False, num_workers=0)
    parts: dict[str, list[np.ndarray]] = {}
    labels = []
    with capture_scales(model, blocks) as scales:
        for x, y in loader:
            model(x)
            for name, s in scales.items():
                parts.setdefault(name, []).append(s.float().cpu().numpy())
            labels.append(np.asarray(y, dtype=np.int64))
    return {k: np.concatenate(v) for k, v in parts.items()}, np.concatenate(labels)


def _gate_names(model: nn.Module, names: Sequence[str]) -> dict[str, str]:
    """Block name → its gate's registered name (``sigmoid``, ...) or class name."""
    by_type = {GATE.get(n): n for n in GATE.names()}
    blocks = attention_blocks(model)
    out = {}
    for name in names:
        module = blocks.get(base_name(name))
        gate = module if isinstance(module, Gate) else next(
            (m for m in (module.modules() if module is not None else []) if isinstance(m, Gate)), None)
        out[name] = by_type.get(type(gate), type(gate).__name__) if gate is not None else "?"
    return out


# ------------------------------------------------------------------------------------------------ the command


def inspect_job(job_dir: Path | str, *, split: str = "test", classes: Sequence[int] | None = None,
                per_class: int | None = None, channels: int = 50, blocks: Sequence[str] | None = None,
                seed: int = 0, checkpoint: Path | str | None = None, out: Path | str | None = None,
                plot: bool = True, batch_size: int = 256, imports: Sequence[str] | None = None) -> Inspection:
    """Record the gate outputs of a trained job on a split and write the files listed in this module's docstring.

    Args:
        job_dir: the job's folder.
        split: ``train`` (augmentation off), ``val`` or ``test``.
        classes: class indices to inspect (default: all); per_class: samples per class (default: all),
            drawn with ``seed``.
        channels: channels drawn per block in the figures (a fixed subset drawn with ``seed``).
        blocks: block names (see :func:`se_variants.attention_blocks`), or ``["all"]``; default
            :func:`default_blocks`.
        seed: >= 0 (numpy's generator takes no negative seed).
        checkpoint: default ``<job_dir>/checkpoints/last.ckpt``; it must be of the job's config (see
            :func:`load_job`). out: a folder (created when missing); default ``<job_dir>/inspect``.
        plot: draw the two figures (at most 10 classes; the data files hold every chosen class).
        imports: modules to import before the network is built (see :func:`load_job`).

    A job that did not finish (or whose record is missing) is inspected from its checkpoint: ``result.job.warning``
    says so (the command prints it), and inspect.json records ``job_status`` and ``epoch``.
    Raises :class:`InspectError` for a job that cannot be inspected or a bad option.
    """
    if split not in SPLITS:
        raise InspectError(f"unknown split {split!r}.{suggest(split, list(SPLITS))} Splits: {', '.join(SPLITS)}.")
    if channels < 1:
        raise InspectError(f"--channels must be >= 1, got {channels}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InspectError(f"--seed must be >= 0, got {seed!r}: it seeds numpy's random generator (the sample and "
                           f"channel subsets), which takes no negative seed.")
    folder = Path(out) if out is not None else Path(job_dir) / "inspect"
    _check_out(folder)
    job = load_job(job_dir, checkpoint, imports=imports)
    names = list(attention_blocks(job.model))
    if not names:
        raise InspectError(f"the model of {job.job_dir} has no attention block with a library gate, so there is "
                           f"no scale to record.")
    if blocks is None:
        chosen = default_blocks(job.model, names)
    elif list(blocks) == ["all"]:
        chosen = names
    else:
        chosen = list(dict.fromkeys(blocks))
        for b in chosen:
            if b not in names:
                raise InspectError(f"no attention block named {b!r} in this model.{suggest(b, names)} "
                                   f"Blocks: {', '.join(names)} (or all).")
    clash = [b for b in chosen if b in RESERVED]
    if clash:
        raise InspectError(f"a block is named {clash[0]!r}, which excitations.npz uses for the labels.")
    dataset = getattr(job.splits, split)
    indices = select_samples(dataset_labels(dataset), classes, per_class, seed)
    scales, labels = record_scales(job.model, dataset, indices, chosen, batch_size)
    class_list = sorted(set(labels.tolist())) if classes is None else list(dict.fromkeys(int(c) for c in classes))
    profs = profiles(scales, _fusion_names(job.model), channels, seed)
    stats = excitation_stats(scales, labels, _gate_names(job.model, list(scales)))
    result = Inspection(job, split, scales, labels, indices, stats, {k: p.shown for k, p in profs.items()})

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file where a parent folder belongs, no permission
        raise InspectError(f"cannot create the output folder {folder} ({err.strerror or err}); --out is a folder, "
                           f"or one that does not exist yet, under a folder you can write to.") from None
    try:
        _write(folder, result, profs, class_list, plot, per_class, seed, channels)
    except FileProblem as err:  # a folder where one of the files belongs
        raise InspectError(str(err)) from None
    return result


def _check_out(folder: Path) -> None:
    """Refuse an output folder that cannot be written (a file, below a file, read-only) before anything is
    computed."""
    why = unwritable(folder)
    if why:
        raise InspectError(f"--out {folder} {why}; --out is the folder inspect writes its files into: name a "
                           f"folder you can write to, or one that does not exist yet.")


def _write(folder: Path, result: Inspection, profs: dict[str, Profile], class_list: list[int], plot: bool,
           per_class: int | None, seed: int, channels: int) -> None:
    """Write the files of :func:`inspect_job` into ``folder`` (each atomically) and list them in ``result``."""
    job, split, scales, labels, indices, stats = (result.job, result.split, result.scales, result.labels,
                                                  result.indices, result.stats)

    def write_npz(tmp: str) -> None:  # through a file object: given a path, np.savez would append ".npz" to it
        with open(tmp, "wb") as f:
            np.savez(f, **scales, labels=labels, indices=indices)

    replace_into(folder / "excitations.npz", write_npz)
    write_atomic(folder / "excitation_stats.csv", csv_text(stats))
    write_atomic(folder / "excitations_by_class.csv", csv_text(class_mean_rows(profs, labels, class_list)))
    result.files = [folder / "excitations.npz", folder / "excitation_stats.csv", folder / "excitations_by_class.csv"]
    if plot:
        drawn = class_list[:MAX_PLOTTED_CLASSES]
        keep = np.isin(labels, drawn)
        sub = {k: Profile(p.kind, p.values[keep], p.shown, p.branches) for k, p in profs.items()}
        what = _describe(job, split)
        eta = {r["block"]: r["class_specificity"] for r in stats}  # over every chosen class, as in the CSV
        plot_by_class(sub, labels[keep], drawn, folder / "excitations_by_class.png", what, eta)
        plot_by_instance(sub, labels[keep], drawn, folder / "excitations_by_instance.png", what, eta)
        result.files += [folder / "excitations_by_class.png", folder / "excitations_by_instance.png"]
    error = (job.record or {}).get("error") or {}
    meta = {"job": str(job.job_dir), "checkpoint": str(job.checkpoint), "epoch": job.epoch,
            "max_epochs": (job.config.get("trainer") or {}).get("max_epochs"), "job_status": job.status,
            "job_error": error.get("type") if job.status == "failed" else None, "imports": job.imports,
            "split": split,
            "classes": class_list, "plotted_classes": class_list[:MAX_PLOTTED_CLASSES] if plot else [],
            "per_class": per_class, "samples": int(len(labels)), "seed": seed, "channels": channels,
            "blocks": list(scales), "shapes": {k: list(v.shape[1:]) for k, v in scales.items()},
            "shown": result.shown, "kinds": {k: p.kind for k, p in profs.items()},
            "variant": {k: (job.record or {}).get(k) for k in ("block", "squeeze", "excite", "gate", "seed")}}
    write_atomic(folder / "inspect.json", json.dumps(meta, indent=1) + "\n")
    result.files.append(folder / "inspect.json")


def _fusion_names(model: nn.Module) -> set[str]:
    return {name for name, m in attention_blocks(model).items() if isinstance(m, Fusion)}


def _describe(job: LoadedJob, split: str) -> str:
    r = job.record or {}
    parts = [r.get("block") or "", *(f"{k}={r[k]}" for k in ("squeeze", "excite", "gate") if r.get(k))]
    return f"{job.job_dir.name}: {' '.join(p for p in parts if p)}, {split} split"


USAGE = """se-variants inspect <job folder> [options]

Runs a split through a trained job's network and records every chosen attention block's gate output (the scale,
before it multiplies x); writes <job>/inspect/: excitations.npz, excitation_stats.csv, excitations_by_class.csv,
excitations_by_class.png (SENet Fig. 6), excitations_by_instance.png (Fig. 7), inspect.json."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with usage, through InspectError (no traceback)
        raise InspectError(message)


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices such as 0,3,7; got {text!r}")


def _modules(text: str) -> list[str]:
    names = [t for t in text.replace(" ", "").split(",") if t]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated module names such as my_ops,pkg.ops; got {text!r}")
    return names


def _parser() -> _Parser:
    p = _Parser(prog="se-variants inspect", usage=USAGE.split("\n")[0], description=USAGE.split("\n", 2)[2],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", help="a job folder (with metrics.json and checkpoints/last.ckpt)")
    p.add_argument("--split", default="test", choices=SPLITS, help="split to run (default: test)")
    p.add_argument("--classes", type=_ints, default=None, help="class indices, e.g. 0,3,7 (default: all)")
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="samples per class, drawn with --seed (default: every sample of the split)")
    p.add_argument("--channels", type=int, default=50, metavar="K",
                   help="channels drawn per block in the figures, a fixed seeded subset (default: 50)")
    p.add_argument("--blocks", default=None,
                   help="comma-separated block names, or 'all' (default: the last block of each stage and every "
                        "block of the last stage, as SENet Fig. 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and channel subsets (default: 0)")
    p.add_argument("--ckpt", default=None, help="checkpoint (default: <job>/checkpoints/last.ckpt)")
    p.add_argument("--out", default=None, help="output folder (default: <job>/inspect)")
    p.add_argument("--imports", type=_modules, default=None, metavar="MOD1,MOD2",
                   help="modules to import first, where the job's own ops are registered (the job's imports: "
                        "list; inspect never imports what a job folder names)")
    return p


def main(argv: list[str]) -> int:
    """``se-variants inspect``: 0 on success, 2 for a bad command line or a job that cannot be inspected."""
    parser = _parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help printed its text
            return int(done.code or 0)
        blocks = None if args.blocks is None else [b for b in args.blocks.split(",") if b]
        result = inspect_job(args.job, split=args.split, classes=args.classes, per_class=args.per_class,
                             channels=args.channels, blocks=blocks, seed=args.seed, checkpoint=args.ckpt,
                             out=args.out, imports=args.imports)
    except InspectError as err:
        print(f"se-variants inspect: error: {err}\n\nusage: {USAGE.splitlines()[0]} (--help for the options)",
              file=sys.stderr)
        return 2
    if result.job.warning:
        print(result.job.warning, file=sys.stderr)
    print(_format_stats(result.stats))
    print(f"\n{len(result.labels)} {result.split} samples, {len(result.scales)} blocks. Wrote: "
          + ", ".join(str(p) for p in result.files))
    return 0


def _format_stats(rows: list[dict[str, Any]]) -> str:
    header = ["block", "gate", "shape", "mean", "std", f"> {SATURATED_HIGH}", f"< {SATURATED_LOW}",
              "class specificity"]
    body = [[r["block"], r["gate"], r["shape"], f"{r['mean']:.3f}", f"{r['std']:.3f}",
             f"{r[f'frac_above_{SATURATED_HIGH}']:.1%}", f"{r[f'frac_below_{SATURATED_LOW}']:.1%}",
             "–" if r["class_specificity"] is None else f"{r['class_specificity']:.3f}"] for r in rows]
    return text_table(header, body, left=(0, 1, 2))

