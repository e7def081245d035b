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

import json
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
from ..registry import GATE, PRESET, suggest
from .excitation_plots import plot_by_class, plot_by_instance
from .excitations import Profile, class_mean_rows, excitation_stats, profiles
from .files import FileProblem, replace_into, unwritable, write_atomic
from .inspect_load import InspectError, LoadedJob, load_job
from .tables import csv_text

__all__ = ["InspectError", "LoadedJob", "Inspection", "load_job", "default_blocks", "dataset_labels",
           "select_samples", "record_scales", "inspect_job", "SPLITS"]

SPLITS = ("train", "val", "test")
#: at most this many classes are drawn (every chosen class is in the npz and CSV files)
MAX_PLOTTED_CLASSES = 10
RESERVED = ("labels", "indices")


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
