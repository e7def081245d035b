"""``ucr``: any dataset of the UCR (univariate, 128) and UEA (multivariate, 33) time series classification
archives by name -- ``data=ucr data.name=ItalyPowerDemand`` -- with the archive's own train/test split.

Where the files come from, in order (the ``[ucr]`` extra installs sktime, which needs no numba):

1. the copies sktime bundles (``sktime/datasets/data/<name>/``: ACSF1, ArrowHead, BasicMotions, GunPoint,
   ItalyPowerDemand, JapaneseVowels, OSULeaf, PLAID), used offline;
2. ``<root>/<name>/<name>_TRAIN.ts`` and ``_TEST.ts`` (``data.root``, default ``<paths.data_dir>/ucr``): a copy
   downloaded before, or put there by hand;
3. sktime's own loader, which downloads the archive's zip into ``<root>/<name>/`` when the network allows.

The planner runs this lookup for every dataset a command names (a download happens there, once, before any job
starts); a name that cannot be found or fetched stops the command before anything trains, naming the dataset,
the bundled ones and the folder a copy would be cached in. Only the archive's ``.ts`` text files are read, by our
own parser (:mod:`.ts_format`); the archive's list of names is read from sktime's source file as literals, never
imported. Nothing loaded runs code.

Preprocessing, in order: per-series z-normalisation (each channel of each case to mean 0, standard deviation 1
over its own values, a constant channel only centred: the rule of Ismail Fawaz et al. 2019, the UCR 2018
release's expectation); multivariate cases as channels; variable-length cases brought to the longest length of
the train and test sets (as Fawaz et al. did) by ``variable_length``: ``cubic`` or ``linear`` resampling, or
``pad`` -- NaN-padded at the end, which the models that take masks (``fcn``, ``resnet_tsc``) turn into zeros and
a mask for their blocks and pooling; other models are refused at planning.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ...registry import suggest
from ..registries import DATA
from .base import DataError, Splits, TensorImages, stratified_split
from .ts_format import TsFile, TsFormatError, read_ts

__all__ = ["ucr", "archive_names", "bundled", "bundled_folder", "load_archive", "znormalize", "equal_length",
           "PACKAGE", "DEFAULT_ROOT"]

#: the package whose bundled copies, list of names and loader the archive comes through (pip install '.[ucr]')
PACKAGE = "sktime"
#: where downloaded copies go when ``data.root`` is not set: a folder of ``paths.data_dir``
DEFAULT_ROOT = "data/ucr"
#: the lists of sktime/datasets/tsc_dataset_names.py read here: the 128 UCR and the 30 + 3 UEA problems
_NAME_LISTS = ("univariate", "multivariate")
#: fewest points a cubic spline (not-a-knot, scipy's interp1d kind='cubic') passes through
_CUBIC_MIN_POINTS = 4


def _package_folder() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _no_package() -> DataError:
    return DataError(f"data=ucr reads the UCR/UEA archive through {PACKAGE} (its bundled copies, list of names and "
                     f"downloader), which is not installed: pip install -e '.[ucr]' (or pip install {PACKAGE}).")


@functools.cache
def archive_names() -> tuple[str, ...]:
    """The archive's dataset names: the 128 UCR (univariate) and 33 UEA (multivariate) problems, as sktime lists
    them in ``sktime/datasets/tsc_dataset_names.py`` (read as literals, not imported). DataError without sktime."""
    folder = _package_folder()
    source = folder / "datasets" / "tsc_dataset_names.py" if folder is not None else None
    if source is None or not source.is_file():
        raise _no_package()
    lists: dict[str, list[str]] = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in _NAME_LISTS:
            lists[node.targets[0].id] = list(ast.literal_eval(node.value))
    if set(lists) != set(_NAME_LISTS):
        raise DataError(f"{source} does not list {', '.join(_NAME_LISTS)} as this reader expects; a {PACKAGE} "
                        f"release that changed the file? Install the [ucr] extra's version: pip install -e '.[ucr]'.")
    return tuple(dict.fromkeys(lists["univariate"] + lists["multivariate"]))


def bundled_folder() -> Path:
    """The folder of the copies sktime bundles (DataError without sktime)."""
    folder = _package_folder()
    if folder is None:
        raise _no_package()
    return folder / "datasets" / "data"


def _complete(folder: Path, name: str) -> bool:
    return (folder / name / f"{name}_TRAIN.ts").is_file() and (folder / name / f"{name}_TEST.ts").is_file()


@functools.cache
def bundled() -> tuple[str, ...]:
    """The archive's datasets sktime bundles (train and test ``.ts`` files present), in the archive's order."""
    folder = bundled_folder()
    return tuple(n for n in archive_names() if _complete(folder, n))


def check_name(name: str) -> None:
    """DataError for a name that is not the archive's, with "did you mean" against the archive's names."""
    names = archive_names()
    if name not in names:
        raise DataError(f"{name!r} is not a dataset of the UCR/UEA archive.{suggest(name, list(names))} Its "
                        f"{len(names)} names are listed in {PACKAGE}'s datasets/tsc_dataset_names.py; bundled "
                        f"(offline): {', '.join(bundled())}.")


def _fetch(name: str, root: Path) -> None:
    """Download ``name`` into ``root/<name>/`` through sktime's loader (it tries the archive's mirrors)."""
    made = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        from sktime.datasets import load_UCR_UEA_dataset

        load_UCR_UEA_dataset(name, split="train", extract_path=str(root))
    except Exception as err:  # no network, a proxy, a mirror without the file, a read-only folder ...
        if made and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # leave no empty cache folder behind
        why = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise DataError(
            f"dataset {name!r} is not bundled with {PACKAGE} (bundled: {', '.join(bundled())}) and could not be "
            f"downloaded ({why}). A downloaded copy is cached in {(root / name).resolve()}/: put {name}_TRAIN.ts "
            f"and {name}_TEST.ts there (from timeseriesclassification.com) and run again, or set "
            f"data.root=<folder holding {name}/>.") from None


def locate(name: str, root: str | Path, download: bool) -> Path:
    """The folder holding ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``: sktime's bundled copy, else ``root/<name>``,
    else (``download``) fetched there. DataError naming the dataset, the bundled ones and the cache folder."""
    check_name(name)
    if name in bundled():
        return bundled_folder() / name
    root = Path(root).expanduser()
    if not _complete(root, name) and download:
        _fetch(name, root)
    if not _complete(root, name):
        raise DataError(
            f"dataset {name!r} is not bundled with {PACKAGE} (bundled: {', '.join(bundled())}) and not in "
            f"{(root / name).resolve()}/ (data.download=false). Put {name}_TRAIN.ts and {name}_TEST.ts there, or "
            f"set data.download=true where the network allows.")
    return root / name


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> TsFile:
    try:
        return read_ts(path)
    except TsFormatError as err:
        raise DataError(str(err)) from None


def load_archive(name: str, root: str | Path = DEFAULT_ROOT, download: bool = True) -> tuple[TsFile, TsFile]:
    """(train, test) of dataset ``name`` as parsed ``.ts`` files (cached per process while the files are
    unchanged). DataError for a missing dataset, a file that is not the format, missing values, or test labels the
    training set does not have."""
    folder = locate(name, root, download)
    train, test = (_read(str(p), p.stat().st_mtime_ns) for p in (folder / f"{name}_TRAIN.ts",
                                                                  folder / f"{name}_TEST.ts"))
    for part, f in (("train", train), ("test", test)):
        if f.missing:
            raise DataError(f"{name}: its {part} set has missing values ('?' or NaN), which data=ucr does not fill; "
                            f"pick a dataset without them.")
    if train.channels != test.channels:
        raise DataError(f"{name}: {train.channels} channels in the train set but {test.channels} in the test set.")
    unseen = sorted(set(test.labels) - set(train.labels))
    if unseen:
        raise DataError(f"{name}: test labels {unseen[:5]} never occur in the training set.")
    return train, test


def znormalize(series: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each channel of each case to mean 0 and standard deviation 1 (population, ddof = 0) over its own values; a
    constant channel is only centred (its std taken as 1), the rule of Ismail Fawaz et al. 2019 (dl-4-tsc).

    Shapes: a list of (C, L_i) arrays in, the same shapes out."""
    out = []
    for s in series:
        std = s.std(axis=1, keepdims=True)
        out.append((s - s.mean(axis=1, keepdims=True)) / np.where(std == 0, 1.0, std))
    return out


def _resample(cases: np.ndarray, length: int, kind: str) -> np.ndarray:
    """Cases of one length n, (M, C, n), resampled to (M, C, length) points spanning the same duration."""
    n = cases.shape[2]
    if n == length:
        return cases
    if n == 1:  # a single point: a constant series
        return np.repeat(cases, length, axis=2)
    at = np.linspace(0.0, n - 1.0, length)  # the first and last points stay where they are
    if kind == "linear":
        below = np.minimum(np.floor(at).astype(np.int64), n - 2)
        frac = at - below
        return cases[..., below] * (1.0 - frac) + cases[..., below + 1] * frac
    from scipy.interpolate import make_interp_spline

    # scipy's interp1d(kind='cubic'), which Fawaz et al. used for the MTS archive: a not-a-knot cubic spline
    return make_interp_spline(np.arange(n), cases, k=3, axis=2)(at)


def equal_length(series: Sequence[np.ndarray], length: int, how: str) -> np.ndarray:
    """Cases of any lengths as one (N, C, length) float32 array: ``cubic`` or ``linear`` resampling of every case
    to ``length`` points spanning its whole duration, or ``pad`` (each case followed by NaN: the padding marker
    the masked models read). Cases of length ``length`` are kept as they are.

    Shapes: a list of N (C, L_i) arrays, L_i <= length, in; (N, C, length) out."""
    out = np.full((len(series), series[0].shape[0], length), np.nan, dtype=np.float32)
    lengths = np.array([s.shape[1] for s in series])
    for n in np.unique(lengths):  # cases of one length share their interpolation: one call each
        index = np.flatnonzero(lengths == n)
        cases = np.stack([series[i] for i in index])
        if how == "pad":
            out[index, :, :n] = cases
        else:
            out[index] = _resample(cases, length, how)
    return out


def _check_resample(name: str, lengths: np.ndarray, how: str) -> None:
    if how == "cubic" and lengths.min() < _CUBIC_MIN_POINTS:
        raise DataError(f"{name}: a case of length {lengths.min()} is too short for a cubic spline (it needs "
                        f"{_CUBIC_MIN_POINTS} points); use data.variable_length=linear or pad.")


@functools.lru_cache(maxsize=8)
def _prepared(dataset: str, root: str, download: bool, znorm: bool,
              variable_length: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], bool]:
    """(x_train (N, C, L) float32, y_train (N,), x_test, y_test, class labels, padded)."""
    train, test = load_archive(dataset, root, download)
    length = int(max(train.lengths.max(), test.lengths.max()))
    variable = bool(train.lengths.min() < length or test.lengths.min() < length)
    if variable:
        _check_resample(dataset, np.concatenate([train.lengths, test.lengths]), variable_length)
    classes = train.class_labels or sorted(set(train.labels))
    index = {c: i for i, c in enumerate(classes)}
    arrays = []
    for f in (train, test):
        series = znormalize(f.series) if znorm else f.series
        arrays += [equal_length(series, length, variable_length),
                   np.array([index[label] for label in f.labels], dtype=np.int64)]
    return (*arrays, classes, variable and variable_length == "pad")


@DATA.register("ucr")
def ucr(
    *,
    dataset: str,
    root: str = DEFAULT_ROOT,
    download: bool = True,
    znorm: bool = True,
    variable_length: Literal["cubic", "linear", "pad"] = "cubic",
    batch_size: int | Literal["auto"] = "auto",
    val_fraction: float = 0.0,
    split_seed: int = 0,
    num_workers: int = 0,
) -> Splits:
    """A dataset of the UCR/UEA time series classification archive with its own train/test split (Dau et al.
    2019; Bagnall et al. 2018). Chosen as ``data=ucr data.name=<dataset>`` (the name is the dataset's).

    Args:
        dataset: the archive's name of the dataset (``data.name`` in configs; set by the name).
        root: where a downloaded copy is cached (``<root>/<dataset>/``); bundled datasets are read from sktime.
        download: fetch a dataset that is neither bundled nor in ``root`` (through sktime's loader).
        znorm: per-series z-normalisation of every channel (Ismail Fawaz et al. 2019; the UCR 2018 release expects
            it).
        variable_length: how cases of different lengths become one tensor of the longest length of the train and
            test sets: ``cubic`` (not-a-knot spline: Fawaz et al.'s MTS archive, scipy's interp1d kind='cubic'),
            ``linear`` resampling, or ``pad`` (NaN after each case: models that take masks, fcn and resnet_tsc,
            zero it and mask their blocks and pooling). Equal-length datasets are not changed by it.
        batch_size: cases per step; ``auto`` is Fawaz et al.'s rule int(min(N_train / 10, 16)) (at least 1).
        val_fraction: stratified share of the training set held out for validation; 0 (the published recipe):
            none, and the job records no val metrics.
        split_seed: seeds that split, never the run's seed.
        num_workers: DataLoader workers (0: in the job's process, fastest for these sizes).

    Shapes: an item is ((C, L) float32, label in 0..K-1); NaN after a case's end with ``variable_length=pad``.
    """
    x, y, xt, yt, classes, _ = _prepared(dataset, root, download, znorm, variable_length)
    if val_fraction > 0 and np.bincount(y).min() < 2:
        raise DataError(f"{dataset}: a class has fewer than 2 training cases, so no stratified validation split "
                        f"exists; use data.val_fraction=0.")
    train, val = stratified_split(y, (val_fraction,), split_seed)
    series, labels = torch.from_numpy(x), torch.from_numpy(y)
    train, val = torch.as_tensor(train), torch.as_tensor(val)
    return Splits(
        train=TensorImages(series[train], labels[train]),
        val=TensorImages(series[val], labels[val]),
        test=TensorImages(torch.tensor(xt), torch.tensor(yt)),  # copies: the arrays are cached
        num_classes=len(classes), in_channels=x.shape[1], image_size=(x.shape[2],), batch_size=batch_size,
        num_workers=num_workers,
    )


def _meta(*, dataset: str, root: str = DEFAULT_ROOT, download: bool = True, znorm: bool = True,
          variable_length: str = "cubic", **options) -> tuple[int, int, tuple[int]]:
    x, _, _, _, classes, _ = _prepared(dataset, root, download, znorm, variable_length)
    return x.shape[1], len(classes), (x.shape[2],)


def _padded(*, dataset: str, root: str = DEFAULT_ROOT, download: bool = True, znorm: bool = True,
            variable_length: str = "cubic", **options) -> bool:
    return _prepared(dataset, root, download, znorm, variable_length)[5]


ucr.meta = _meta
ucr.padded = _padded
DATA.serve("ucr", "dataset", archive_names)
