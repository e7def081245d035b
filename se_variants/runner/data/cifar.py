"""``cifar10`` and ``cifar100``: the python-pickle releases of Krizhevsky 2009, read from disk.

torchvision downloads them when ``download`` is true and the network allows; the files are then read here
directly (the same format torchvision reads), so a copy placed by hand works too. The files are pickles, and
unpickling can run code, so nothing is unpickled before its MD5 checksum equals the one published with the
release (:data:`CHECKSUMS`, as torchvision checks them), and even then only through an unpickler that refuses
everything but plain containers and numpy arrays.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..registries import DATA
from .base import DataError, Splits, TensorImages, stratified_split

__all__ = ["cifar10", "cifar100", "CIFAR_MEAN", "CIFAR_STD", "CHECKSUMS", "CifarAugment", "Normalize"]

#: per-channel mean / std of the training images of each release
CIFAR_MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5071, 0.4865, 0.4409)}
CIFAR_STD = {"cifar10": (0.2470, 0.2435, 0.2616), "cifar100": (0.2673, 0.2564, 0.2762)}

#: MD5 of every file of the two releases, as published with them (and listed by torchvision's CIFAR datasets)
CHECKSUMS: dict[str, dict[str, str]] = {
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10,
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100,
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}


class Normalize:
    """uint8 (C, H, W) → float32 standardised with per-channel mean and std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255.0 - self.mean) / self.std


class CifarAugment(Normalize):
    """The usual CIFAR augmentation (He et al. 2016): 4-pixel zero padding, random 32×32 crop, horizontal flip."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        i, j = torch.randint(0, 9, (2,)).tolist()
        x = torch.nn.functional.pad(x, (4, 4, 4, 4))[:, i:i + h, j:j + w]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        return super().__call__(x)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers, numbers, strings and numpy arrays; any other class or function is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"), ("builtins", "object")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR file holds only arrays and lists")
        return super().find_class(module, name)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read(which: str, path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    expected = CHECKSUMS[which][path.name]
    actual = _md5(path)
    if actual != expected:
        raise DataError(
            f"{path} is not the file of the published {which} release (MD5 {actual}, expected {expected}): it is "
            f"corrupt, truncated or was replaced. It was not read (a pickle can run code). Delete "
            f"{path.parent} and download the release again (data.download=true, or extract "
            f"{_LAYOUT[which][5]} there by hand).")
    try:
        batch = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataError(f"{path}: cannot be read as a {which} batch ({err}).") from None
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: expected 'data' of shape (N, 3072) (3×32×32 uint8), got {data.shape}.")
    return data.reshape(-1, 3, 32, 32), np.asarray(batch[key], dtype=np.int64)


def load_cifar(which: str, root: str,
               download: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train images (N, 3, 32, 32) uint8, labels), (test images, labels)) from ``root/<release folder>``."""
    folder, train_files, test_files, key, _, url = _LAYOUT[which]
    base = Path(root).expanduser() / folder
    missing = [f for f in train_files + test_files if not (base / f).is_file()]
    if missing and download:
        import torchvision

        cls = torchvision.datasets.CIFAR10 if which == "cifar10" else torchvision.datasets.CIFAR100
        try:
            cls(str(Path(root).expanduser()), download=True)
        except Exception as err:  # no network, a proxy, a corrupt partial file, ...
            raise DataError(
                f"{which}: could not download ({type(err).__name__}: {err}). Without network, download {url} "
                f"elsewhere and extract it into {Path(root).expanduser().resolve()} so that {base}/ holds "
                f"{', '.join(train_files + test_files)}; or set data.root=<folder holding {folder}/>."
            ) from None
        missing = [f for f in train_files + test_files if not (base / f).is_file()]
    if missing:
        raise DataError(
            f"{which} not found: {base}/ lacks {', '.join(missing)}. Download {url} and extract it into "
            f"{Path(root).expanduser().resolve()} (or set data.root=<folder holding {folder}/>, or "
            f"data.download=true when the network allows)."
        )
    train = [_read(which, base / f, key) for f in train_files]
    test = [_read(which, base / f, key) for f in test_files]
    cat = lambda parts: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))  # noqa: E731
    return cat(train), cat(test)


def _splits(which: str, root: str, download: bool, batch_size: int, val_size: int, split_seed: int,
            augment: bool, num_workers: int) -> Splits:
    (x, y), (xt, yt) = load_cifar(which, root, download)
    if not 0 <= val_size < len(y):
        raise DataError(f"{which}: val_size must be in 0..{len(y) - 1} (held out of the {len(y)} training images; "
                        f"0: no validation split), got {val_size}.")
    train, val = stratified_split(y, (val_size / len(y),), split_seed)
    images, labels = torch.from_numpy(x), torch.from_numpy(y)
    stats = CIFAR_MEAN[which], CIFAR_STD[which]
    norm = Normalize(*stats)
    return Splits(
        train=TensorImages(images[train], labels[train], CifarAugment(*stats) if augment else norm),
        val=TensorImages(images[val], labels[val], norm),
        test=TensorImages(torch.from_numpy(xt), torch.from_numpy(yt), norm),
        num_classes=_LAYOUT[which][4], in_channels=3, image_size=(32, 32), batch_size=batch_size,
        num_workers=num_workers,
    )


@DATA.register("cifar10")
def cifar10(*, root: str = "data", download: bool = True, batch_size: int | Literal["auto"] = 128,
            val_size: int = 5000, split_seed: int = 0, augment: bool = True, num_workers: int = 2) -> Splits:
    """CIFAR-10: 50 000 training and 10 000 test 32×32 colour images, 10 classes.

    Args:
        root: folder holding ``cifar-10-batches-py/``.
        download: fetch the release when it is not there (needs network).
        batch_size: images per step (He et al. 2016: 128).
        val_size: training images held out for validation (stratified, seeded by ``split_seed``; 0: none); the
            official test set is the test split.
        augment: pad-4 random crop + horizontal flip on training images.
        num_workers: DataLoader workers.

    Shapes: an item is ((3, 32, 32) float32, label in 0..9).
    """
    return _splits("cifar10", root, download, batch_size, val_size, split_seed, augment, num_workers)


@DATA.register("cifar100")
def cifar100(*, root: str = "data", download: bool = True, batch_size: int | Literal["auto"] = 128,
             val_size: int = 5000, split_seed: int = 0, augment: bool = True, num_workers: int = 2) -> Splits:
    """CIFAR-100: as CIFAR-10 with 100 (fine) classes; ``root`` holds ``cifar-100-python/``.

    Shapes: an item is ((3, 32, 32) float32, label in 0..99).
    """
    return _splits("cifar100", root, download, batch_size, val_size, split_seed, augment, num_workers)


def _meta(which: str):
    def meta(*, root: str = "data", download: bool = True, **options) -> tuple[int, int, tuple[int, int]]:
        folder, train_files, test_files, *_ = _LAYOUT[which]
        base = Path(root).expanduser() / folder
        present = all((base / f).is_file() for f in train_files + test_files)
        if not download and not present:
            load_cifar(which, root, download=False)  # raises the DataError that says where to put the files
        if present:  # a corrupt or replaced file fails now, before any job starts
            for f in train_files + test_files:
                if _md5(base / f) != CHECKSUMS[which][f]:
                    _read(which, base / f, "")
        return 3, _LAYOUT[which][4], (32, 32)

    return meta


cifar10.meta = _meta("cifar10")
cifar100.meta = _meta("cifar100")
