"""``digits``: scikit-learn's bundled 8×8 handwritten digits (1797 real images, 10 classes, no download)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..registries import DATA
from .base import Splits, TensorImages, stratified_split

__all__ = ["digits", "random_shift"]


def random_shift(x: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """Translate a (C, H, W) image by up to ``pad`` pixels in each direction (zero fill)."""
    h, w = x.shape[-2:]
    i, j = torch.randint(0, 2 * pad + 1, (2,)).tolist()
    return F.pad(x, (pad, pad, pad, pad))[:, i:i + h, j:j + w]


@DATA.register("digits")
def digits(
    *,
    batch_size: int | Literal["auto"] = 128,
    val_fraction: float = 0.15,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    augment: bool = True,
    num_workers: int = 0,
) -> Splits:
    """scikit-learn ``load_digits``: 1797 grey 8×8 images (values 0..16) of the digits 0-9.

    Args:
        batch_size: images per step (auto: Ismail Fawaz et al. 2019's int(min(N_train / 10, 16))).
        val_fraction, test_fraction: stratified shares of the 1797 images (defaults: 1077 / 270 / 450;
            val_fraction=0: no validation split);
            the split depends on ``split_seed`` only, never on the run's seed.
        augment: shift training images by up to one pixel.
        num_workers: DataLoader workers (0: load in the main process, fastest for this size).

    Images are scaled to [0, 1] and standardised with the training split's mean and std.
    Shapes: an item is ((1, 8, 8) float32, label in 0..9).
    """
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(raw.target, dtype=torch.long)
    train, val, test = stratified_split(raw.target, (val_fraction, test_fraction), split_seed)
    mean, std = images[train].mean(), images[train].std()
    images = (images - mean) / std
    train = torch.as_tensor(train)
    return Splits(
        train=TensorImages(images[train], labels[train], random_shift if augment else None),
        val=TensorImages(images[val], labels[val]),
        test=TensorImages(images[test], labels[test]),
        num_classes=10, in_channels=1, image_size=(8, 8), batch_size=batch_size, num_workers=num_workers,
    )


digits.meta = lambda **options: (1, 10, (8, 8))
