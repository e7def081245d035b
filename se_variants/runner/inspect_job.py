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
* ``inspect.json``: what was inspected (checkpoint, split, classes, samples, seed, shown channels).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..capture import attention_blocks, base_name, capture_scales
from ..registry import suggest
from .excitation_plots import plot_by_class, plot_by_instance
from .excitations import SATURATED_HIGH, SATURATED_LOW, Profile, class_mean_rows, excitation_stats, profiles
from .results import RESULT_FILE, load_record, write_atomic

__all__ = ["InspectError", "LoadedJob", "Inspection", "load_job", "default_blocks", "dataset_labels",
           "select_samples", "record_scales", "inspect_job", "main", "SPLITS"]

SPLITS = ("train", "val", "test")
#: at most this many classes are drawn (every chosen class is in the npz and CSV files)
MAX_PLOTTED_CLASSES = 10
CHECKPOINT = Path("checkpoints") / "last.ckpt"
RESERVED = ("labels", "indices")


class InspectError(ValueError):
    """A job that cannot be inspected, or a bad option; the message says why and what to do."""


@dataclass
class LoadedJob:
    """A trained job, ready to run: ``model`` (eval mode, CPU, weights from ``checkpoint``), its resolved
    ``config`` (plain values), its ``record`` (metrics.json, or None when missing or unreadable) and its data
    ``splits`` (training augmentation off)."""

    job_dir: Path
    checkpoint: Path
    model: nn.Module
    config: dict[str, Any]
    record: dict[str, Any] | None
    splits: Any
    epoch: int | None = None


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
    from .data import DATA

    node = dict(data)
    try:
        entry, _ = DATA.resolve({"name": node["name"]})
        if "augment" in entry.options:
            node["augment"] = False
    except Exception:  # an unknown dataset fails with its own message when built below
        pass
    return node


def load_job(job_dir: Path | str, checkpoint: Path | str | None = None) -> LoadedJob:
    """Rebuild a finished (or interrupted) job's network from its checkpoint.

    Args:
        job_dir: the job's folder (``metrics.json``, ``checkpoints/last.ckpt``).
        checkpoint: another Lightning checkpoint of this job; default ``<job_dir>/checkpoints/last.ckpt``.

    The checkpoint is read with ``torch.load(..., weights_only=True)`` (nothing in it can run code); only its
    ``state_dict`` (keys ``model.<name>``) and ``hyper_parameters`` (the job's resolved config) are used. The
    config's ``imports`` are imported first, so user-registered ops rebuild. Raises :class:`InspectError`.
    """
    from ..registry import SpecError
    from .data import DATA, DataError
    from .models import MODEL
    from .validate import ConfigError, block_spec, import_user_modules

    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise InspectError(f"{job_dir} is not a folder; pass a job folder (one with {RESULT_FILE} and "
                           f"{CHECKPOINT}), e.g. outputs/ablate/digits/<job>.")
    record, problem = load_record(job_dir / RESULT_FILE) if (job_dir / RESULT_FILE).is_file() else (None, None)
    path = Path(checkpoint) if checkpoint is not None else job_dir / CHECKPOINT
    if not path.is_file():
        status = f" (its {RESULT_FILE} says status {record['status']!r})" if record else ""
        hint = (" It has no job record either: is this a sweep folder? Pass one of its job folders."
                if not (job_dir / RESULT_FILE).is_file() else
                " Checkpoints are written after every epoch; a job that stopped before its first epoch ended has "
                "none. Re-run the job, or pass --ckpt <file>.")
        raise InspectError(f"no checkpoint at {path}{status}.{hint}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InspectError(f"cannot read the checkpoint {path}: {type(err).__name__}: {err}".strip()) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InspectError(f"{path} is not a Lightning checkpoint of a runner job (no 'state_dict').")
    config = ckpt.get("hyper_parameters")
    if not (isinstance(config, dict) and "model" in config and "block" in config):
        config = (record or {}).get("config")
    if not (isinstance(config, dict) and "model" in config and "block" in config and "data" in config):
        why = f" ({RESULT_FILE}: {problem})" if problem else ""
        raise InspectError(f"no config for {path}: its hyper_parameters hold none and {job_dir / RESULT_FILE} "
                           f"has no usable 'config'{why}.")
    try:
        import_user_modules(config.get("imports"))
        spec = block_spec(config)
    except ConfigError as err:
        raise InspectError(f"{job_dir}: {err}") from None
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
    model = MODEL.build(config["model"], splits.in_channels, splits.num_classes, spec)
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InspectError(f"the checkpoint {path} does not fit the network its config builds (was an op changed "
                           f"since it was trained?): {' '.join(str(err).split())[:600]}") from None
    model.eval()
    epoch = ckpt.get("epoch")
    return LoadedJob(job_dir, path, model, config, record, splits, epoch if isinstance(epoch, int) else None)


# ------------------------------------------------------------------------------------------------ choosing


def _library_types() -> tuple[type, ...]:
    """The module types that make up an attention block: compositions and the presets that are classes."""
    from ..compose import Fusion, Parallel, SEBlock, Serial
    from ..registry import PRESET

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
    from ..gate import Gate
    from ..registry import GATE

    by_type = {GATE.get(n): n for n in GATE.names()}
    blocks = attention_blocks(model)
    out = {}
    for name in names:
        module = blocks.get(base_name(name))
        gate = module if isinstance(module, Gate) else next(
            (m for m in (module.modules() if module is not None else []) if isinstance(m, Gate)), None)
        out[name] = by_type.get(type(gate), type(gate).__name__) if gate is not None else "?"
    return out


# ------------------------------------------------------------------------------------------------ writing


def _replace_into(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the file to ``path`` in one step (no half-written file is seen)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_text(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ the command


def inspect_job(job_dir: Path | str, *, split: str = "test", classes: Sequence[int] | None = None,
                per_class: int | None = None, channels: int = 50, blocks: Sequence[str] | None = None,
                seed: int = 0, checkpoint: Path | str | None = None, out: Path | str | None = None,
                plot: bool = True, batch_size: int = 256) -> Inspection:
    """Record the gate outputs of a trained job on a split and write the files listed in this module's docstring.

    Args:
        job_dir: the job's folder.
        split: ``train`` (augmentation off), ``val`` or ``test``.
        classes: class indices to inspect (default: all); per_class: samples per class (default: all),
            drawn with ``seed``.
        channels: channels drawn per block in the figures (a fixed subset drawn with ``seed``).
        blocks: block names (see :func:`se_variants.attention_blocks`), or ``["all"]``; default
            :func:`default_blocks`.
        checkpoint: default ``<job_dir>/checkpoints/last.ckpt``; out: default ``<job_dir>/inspect``.
        plot: draw the two figures (at most 10 classes; the data files hold every chosen class).

    Raises :class:`InspectError` for a job that cannot be inspected or a bad option.
    """
    if split not in SPLITS:
        raise InspectError(f"unknown split {split!r}.{suggest(split, list(SPLITS))} Splits: {', '.join(SPLITS)}.")
    if channels < 1:
        raise InspectError(f"--channels must be >= 1, got {channels}.")
    job = load_job(job_dir, checkpoint)
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

    folder = Path(out) if out is not None else job.job_dir / "inspect"
    folder.mkdir(parents=True, exist_ok=True)
    _replace_into(folder / "excitations.npz",
                  lambda tmp: np.savez(tmp, **scales, labels=labels, indices=indices))
    write_atomic(folder / "excitation_stats.csv", _csv_text(stats))
    write_atomic(folder / "excitations_by_class.csv", _csv_text(class_mean_rows(profs, labels, class_list)))
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
    meta = {"job": str(job.job_dir), "checkpoint": str(job.checkpoint), "epoch": job.epoch, "split": split,
            "classes": class_list, "plotted_classes": class_list[:MAX_PLOTTED_CLASSES] if plot else [],
            "per_class": per_class, "samples": int(len(labels)), "seed": seed, "channels": channels,
            "blocks": list(scales), "shapes": {k: list(v.shape[1:]) for k, v in scales.items()},
            "shown": result.shown, "kinds": {k: p.kind for k, p in profs.items()},
            "variant": {k: (job.record or {}).get(k) for k in ("block", "squeeze", "excite", "gate", "seed")}}
    write_atomic(folder / "inspect.json", json.dumps(meta, indent=1) + "\n")
    result.files.append(folder / "inspect.json")
    return result


def _fusion_names(model: nn.Module) -> set[str]:
    from ..compose import Fusion

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
                             out=args.out)
    except InspectError as err:
        print(f"se-variants inspect: error: {err}\n\nusage: {USAGE.splitlines()[0]} (--help for the options)",
              file=sys.stderr)
        return 2
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
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)])

