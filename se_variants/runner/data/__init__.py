"""Datasets the runner trains on, by name: ``digits`` (scikit-learn's bundled 8×8 digits, the default; no
download), ``mnist1d`` (generated offline), ``cifar10``, ``cifar100`` (the python-pickle release; downloaded when
the network allows), ``imagefolder`` (any class-per-folder tree, e.g. Imagenette) and ``ucr`` (any dataset of the
UCR/UEA time series archive by its name: ``data=ucr data.name=GunPoint``).

A data factory is called with its keyword-only options only and returns :class:`Splits`; the ``data:`` config
node is validated by :data:`DATA` like a squeeze node. Nothing here imports Lightning (the planner uses it).
"""

from ..registries import DATA
from . import cifar, digits, imagefolder, mnist1d, ucr  # noqa: F401  (register the datasets)
from .base import DataError, Splits, TensorImages, stratified_split

__all__ = ["DATA", "DataError", "Splits", "TensorImages", "stratified_split", "data_meta", "data_padded",
           "has_validation", "check_loader_options"]


def data_meta(spec) -> tuple[int, int, tuple[int, ...]]:
    """(in_channels, num_classes, image size) of a ``data:`` node without loading the images (datasets that do
    not say are loaded). Raises SpecError for bad options, DataError for a missing tree."""
    entry, options = DATA.resolve(spec)
    check_loader_options(entry.name, options)
    meta = getattr(entry.factory, "meta", None)
    if meta is not None:
        return meta(**options)
    splits = entry.factory(**options)
    return splits.in_channels, splits.num_classes, splits.image_size


def data_padded(spec) -> bool:
    """Whether the items of a ``data:`` node are NaN-padded variable-length series (``data.variable_length=pad``
    of a dataset whose cases differ in length), which only models that take masks accept."""
    entry, options = DATA.resolve(spec)
    padded = getattr(entry.factory, "padded", None)
    return bool(padded(**options)) if padded is not None else False


def has_validation(spec) -> bool:
    """Whether a ``data:`` node holds out a validation split (``val_fraction=0`` / ``val_size=0``: none, and a
    job then records no val metrics), without loading anything."""
    _, options = DATA.resolve(spec)
    return all(options.get(key, 1) != 0 for key in ("val_fraction", "val_size"))


def check_loader_options(name: str, options: dict) -> None:
    """The options every dataset shares, by name: ``batch_size`` >= 1 or ``auto``, ``num_workers`` >= 0,
    ``image_size`` >= 1, and the ``*_fraction`` shares of a split each in (0, 1) -- ``val_fraction`` in [0, 1),
    0 holding out no validation split -- with a sum below 1 (the rest trains). Raises DataError naming the
    option."""
    batch = options.get("batch_size", 1)
    if batch != "auto" and batch < 1:
        raise DataError(f"{name}: batch_size must be >= 1 (or auto: Ismail Fawaz et al. 2019's "
                        f"int(min(N_train / 10, 16))), got {batch}.")
    if options.get("num_workers", 0) < 0:
        raise DataError(f"{name}: num_workers must be >= 0 (0 loads in the job's process), "
                        f"got {options['num_workers']}.")
    if options.get("image_size", 1) < 1:
        raise DataError(f"{name}: image_size must be >= 1, got {options['image_size']}.")
    fractions = {k: v for k, v in options.items() if k.endswith("_fraction")}
    for key, value in fractions.items():
        if key == "val_fraction" and value == 0.0:
            continue  # no validation split
        if not 0.0 < value < 1.0:
            low = "[0, 1) (0: no validation split)" if key == "val_fraction" else "(0, 1)"
            raise DataError(f"{name}: {key} must be in {low}, a share of the training data, got {value}.")
    if fractions and sum(fractions.values()) >= 1.0:
        shares = " + ".join(f"{k} {v}" for k, v in fractions.items())
        raise DataError(f"{name}: {shares} = {sum(fractions.values()):g} leaves no training images; keep the sum "
                        f"below 1.")
