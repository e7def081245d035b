"""What every dataset returns (:class:`Splits`), the in-memory image dataset, and the samplers that make every
epoch's order and augmentation a function of (seed, epoch) alone. (The Lightning data module is in ``lit.py``.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["DataError", "Splits", "TensorImages", "EpochSampler", "SeededItems", "ShardSampler", "stratified_split",
           "derive_seed", "mix_seed", "auto_batch_size", "AUTO_BATCH_MAX"]

#: Ismail Fawaz et al. 2019 (dl-4-tsc, FCN): mini-batches of int(min(N_train / 10, 16)) cases
AUTO_BATCH_MAX = 16


def auto_batch_size(n_train: int) -> int:
    """``batch_size=auto``: Ismail Fawaz et al. 2019's rule int(min(N_train / 10, 16)), at least 1 (their rule gives
    0 below 10 training cases)."""
    return max(1, int(min(n_train / 10, AUTO_BATCH_MAX)))


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
    image_size: tuple[int, ...]  # spatial size of an item: (H, W) images, (L,) sequences, (D, H, W) volumes
    batch_size: int  # "auto" is resolved here from the training split's size (auto_batch_size)
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.batch_size == "auto":
            self.batch_size = auto_batch_size(len(self.train))

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
    fraction (of the whole; 0 gives an empty part). The same labels and seed give the same split on every
    machine."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    rest = np.arange(len(labels))
    parts: list[np.ndarray] = []
    remaining = 1.0
    for frac in fractions:
        if frac == 0.0:
            parts.append(np.zeros(0, dtype=np.int64))
            continue
        if not 0.0 < frac < remaining:
            raise ValueError(f"split fractions {list(fractions)} must be > 0 and sum to < 1.")
        rest, part = train_test_split(rest, test_size=frac / remaining, random_state=seed, stratify=labels[rest])
        parts.append(np.sort(part))
        remaining -= frac
    return [np.sort(rest), *parts]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (run seed, epoch, rank, stream, ...), the same on every machine and process."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


_MASK64 = (1 << 64) - 1


def mix_seed(base: int, i: int) -> int:
    """A 63-bit seed for item ``i`` of a stream seeded ``base`` (splitmix64's finaliser: a few integer operations,
    where :func:`derive_seed` costs ~100x more, which counts once per sample)."""
    z = (base + (i + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class EpochSampler(Sampler[tuple[int, int, bool]]):
    """Training order: a permutation drawn from (seed, epoch) alone, never from the global RNG, so a job resumed
    at epoch e sees exactly the order an uninterrupted run sees. Lightning calls :meth:`set_epoch` before each
    epoch (the permutation is drawn lazily, at the first fetch). With ``world > 1`` (DDP) each rank takes every
    world-th index of the permutation; so that every rank runs the same number of steps, the ranks short of one
    index take one padding item (flagged: :class:`SeededItems` gives it the label -1, which the loss and the
    metrics ignore, so every sample counts once).

    Yields ``(index, epoch, padding)`` keys for :class:`SeededItems`; ``len`` is the number of keys of this rank.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.world)

    def __iter__(self):
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, 0x5A3))
        order = torch.randperm(self.size, generator=g).tolist()
        mine = [(i, self.epoch, False) for i in order[self.rank::self.world]]
        mine += [(order[0], self.epoch, True)] * (len(self) - len(mine))
        return iter(mine)


class SeededItems(Dataset):
    """A training dataset whose random augmentation is a function of (seed, epoch, sample) alone.

    Item ``(i, epoch, padding)`` is ``dataset[i]`` computed with torch's RNG seeded from (seed, epoch, i) and
    restored afterwards: the same sample of the same epoch is augmented the same way in any process, DataLoader
    worker or resumed run, and loading data never moves the global RNG (which dropout and other model randomness
    use). A padding item (DDP, see :class:`EpochSampler`) has the label -1. Transforms that draw from torch's
    RNG (ours and torchvision's) are covered; ones that use Python's ``random`` or numpy's global RNG are not.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed
        self._epoch_seeds: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int, bool]):
        i, epoch, padding = key
        if epoch not in self._epoch_seeds:
            self._epoch_seeds[epoch] = derive_seed(self.seed, epoch, 0xDA7A)
        rng = torch.default_generator  # the CPU generator transforms draw from (torch.manual_seed costs ~100x more)
        state = rng.get_state()
        rng.manual_seed(mix_seed(self._epoch_seeds[epoch], i))
        try:
            x, y = self.dataset[i]
        finally:
            rng.set_state(state)
        return x, (-1 if padding else y)


class ShardSampler(Sampler[int]):
    """Evaluation order: indices in order, rank r of ``world`` taking r, r + world, ... -- no padding, so every
    sample is evaluated exactly once across the ranks (torch's DistributedSampler repeats some to even out)."""

    def __init__(self, size: int, rank: int = 0, world: int = 1):
        self.size, self.rank, self.world = size, rank, world

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world))

    def __iter__(self):
        return iter(range(self.rank, self.size, self.world))
