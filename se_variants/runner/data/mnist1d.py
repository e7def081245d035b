"""``mnist1d``: MNIST-1D (Greydanus 2020), a 1-D digit benchmark generated offline, no download."""

from __future__ import annotations

from typing import Literal

import functools
import random

import numpy as np
import torch

from ..registries import DATA
from .base import DataError, Splits, TensorImages, stratified_split

__all__ = ["mnist1d", "generate", "LENGTH", "PUBLISHED_TEST_ACCURACY"]

#: MNIST-1D's signal length (get_dataset_args: final_seq_length 40)
LENGTH = 40
#: test accuracy in % reported for MNIST-1D (Greydanus 2020, README table): logistic regression, MLP, CNN, GRU,
#: human
PUBLISHED_TEST_ACCURACY = {"logistic": 32, "mlp": 68, "cnn": 94, "gru": 91, "human": 96}


@functools.cache
def generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train (4000, 40), y_train, x_test (1000, 40), y_test), made by ``mnist1d.data.make_dataset`` with the
    package's default arguments (seed 42: the published split). Nothing is read or written on disk (never
    ``get_dataset``, which downloads and writes a pickle into the working directory), and the global ``random``
    and numpy RNG states that ``make_dataset`` reseeds are restored afterwards. Cached per process."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise DataError("data=mnist1d needs the mnist1d package: pip install 'se-variants[train]' "
                        f"(or pip install mnist1d). ({err})") from None
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return data["x"], data["y"], data["x_test"], data["y_test"]


@DATA.register("mnist1d")
def mnist1d(
    *,
    batch_size: int | Literal["auto"] = 128,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    num_workers: int = 0,
) -> Splits:
    """MNIST-1D (Greydanus 2020): ten 1-D digit templates, padded, translated, scaled, sheared and noised to
    signals of length 40; 4000 training and 1000 test signals, 10 classes. Published test accuracy: logistic
    regression 32 %, MLP 68 %, CNN 94 %, GRU 91 %, human 96 %.

    Args:
        batch_size: signals per step (auto: Ismail Fawaz et al. 2019's int(min(N_train / 10, 16))).
        val_fraction: stratified share of the 4000 training signals held out for validation (default 400; 0:
            none); the split depends on ``split_seed`` only, never on the run's seed. The test set is the
            published 1000.
        num_workers: DataLoader workers (0: load in the main process, fastest for this size).

    The signals are standardised over the whole set by ``make_dataset`` itself (as published).
    Shapes: an item is ((1, 40) float32, label in 0..9).
    """
    x, y, x_test, y_test = generate()
    train, val = stratified_split(y, (val_fraction,), split_seed)
    signals = torch.tensor(x, dtype=torch.float32).unsqueeze(1)
    labels = torch.tensor(y, dtype=torch.long)
    train, val = torch.as_tensor(train), torch.as_tensor(val)
    return Splits(
        train=TensorImages(signals[train], labels[train]),
        val=TensorImages(signals[val], labels[val]),
        test=TensorImages(torch.tensor(x_test, dtype=torch.float32).unsqueeze(1), torch.tensor(y_test)),
        num_classes=10, in_channels=1, image_size=(LENGTH,), batch_size=batch_size, num_workers=num_workers,
    )


mnist1d.meta = lambda **options: (1, 10, (LENGTH,))
