"""What every dataset returns (:class:`Splits`), the in-memory image dataset and the Lightning data module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["DataError", "Splits", "TensorImages", "ImageData", "stratified_split"]


class DataError(RuntimeError):
    """A dataset that cannot be loaded; the message says where the files were expected and how to get them."""


@dataclass
class Splits:
    """Train / val / test datasets of (image (C, H, W) float, label int) pairs and what a model needs to know."""

    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    batch_size: int
    num_workers: int = 0

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


class TensorImages(Dataset):
    """Images held in memory as one tensor, with an optional per-sample transform.

    Shapes: ``images`` (N, C, H, W), ``labels`` (N,); an item is ((C, H, W) float32, int).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels.")
        self.images = images
        self.labels = labels.long()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])


def stratified_split(labels: Sequence[int], fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Indices of ``len(fractions) + 1`` disjoint, class-stratified parts: the rest first, then one part per
    fraction (of the whole). The same labels and seed give the same split on every machine."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    rest = np.arange(len(labels))
    parts: list[np.ndarray] = []
    remaining = 1.0
    for frac in fractions:
        if not 0.0 < frac < remaining:
            raise ValueError(f"split fractions {list(fractions)} must be > 0 and sum to < 1.")
        rest, part = train_test_split(rest, test_size=frac / remaining, random_state=seed, stratify=labels[rest])
        parts.append(np.sort(part))
        remaining -= frac
    return [np.sort(rest), *parts]


class ImageData(L.LightningDataModule):
    """Data loaders over :class:`Splits` (train shuffled; val and test in order)."""

    def __init__(self, splits: Splits):
        super().__init__()
        self.splits = splits

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        workers = self.splits.num_workers
        return DataLoader(dataset, batch_size=self.splits.batch_size, shuffle=shuffle, num_workers=workers,
                          persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, False)
