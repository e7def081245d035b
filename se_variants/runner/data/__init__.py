"""Datasets the runner trains on, by name: ``digits`` (scikit-learn's bundled 8×8 digits, the default; no
download), ``cifar10``, ``cifar100`` (the python-pickle release; downloaded when the network allows) and
``imagefolder`` (any class-per-folder tree, e.g. Imagenette).

A data factory is called with its keyword-only options only and returns :class:`Splits`; the ``data:`` config
node is validated by :data:`DATA` like a squeeze node.
"""

from ...registry import Registry

#: dataset factories: ``factory(**options) -> Splits``
DATA = Registry("data")

from .base import DataError, ImageData, Splits, TensorImages, stratified_split  # noqa: E402
from . import cifar, digits, imagefolder  # noqa: E402, F401  (register the datasets)
from . import mnist1d  # noqa: E402, F401

__all__ = ["DATA", "DataError", "ImageData", "Splits", "TensorImages", "stratified_split", "data_meta"]


def data_meta(spec) -> tuple[int, int, tuple[int, ...]]:
    """(in_channels, num_classes, image size) of a ``data:`` node without loading the images (datasets that do
    not say are loaded). Raises SpecError for bad options, DataError for a missing tree."""
    entry, options = DATA.resolve(spec)
    meta = getattr(entry.factory, "meta", None)
    if meta is not None:
        return meta(**options)
    splits = entry.factory(**options)
    return splits.in_channels, splits.num_classes, splits.image_size
