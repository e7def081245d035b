"""Fixtures for the runner tests: small datasets in the real on-disk formats (nothing downloads), a helper
module with a user-registered op, and the runner's entry points in a subprocess."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def write_cifar(root: Path, which: str, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """A small CIFAR release in the python-pickle format (``data`` (N, 3072) uint8, ``labels``/``fine_labels``)."""
    rng = np.random.default_rng(seed)
    classes = 10 if which == "cifar10" else 100
    if which == "cifar10":
        folder, files, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], "labels"
    else:
        folder, files, key = root / "cifar-100-python", ["train", "test"], "fine_labels"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        n = n_test if "test" in name else n_train
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: [int(i % classes) for i in range(n)], "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return root


def write_imagefolder(root: Path, classes: int = 3, per_class: int = 10, size: int = 20, split: bool = True) -> Path:
    """A class-per-folder tree of PNG images: ``root/{train,val}/<class>/*.png`` (or ``root/<class>/*.png``)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    parts = [("train", per_class), ("val", max(per_class // 2, 2))] if split else [(".", per_class)]
    for part, count in parts:
        for c in range(classes):
            d = root / part / f"class_{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(d / f"img_{i}.png")
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder holding tiny cifar10, cifar100 and imagefolder trees."""
    root = tmp_path_factory.mktemp("data")
    write_cifar(root, "cifar10")
    write_cifar(root, "cifar100", n_train=300)  # one train file: 3 images per class
    write_imagefolder(root / "imagefolder")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machine is shared and the models are tiny: one torch thread, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FLAKY_MODULE = '''
"""A user op for the sweep tests: plain average pooling that raises during training while SV_FLAKY=1 and the
run's seed is 1 (not in no-grad passes, so the preflight's dummy forward passes)."""
import os

import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze


@SQUEEZE.register("flaky")
class Flaky(Squeeze):
    """Average pooling that fails on purpose (tests only). Shapes: (N, C, H, W) -> (N, 1, C, 1, 1)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.descriptor = Descriptor(channels, 1, ("c",))

    def forward(self, x):
        if torch.is_grad_enabled() and os.environ.get("SV_FLAKY") == "1" and torch.initial_seed() == 1:
            raise RuntimeError("injected failure (SV_FLAKY=1, seed 1)")
        return x.mean((2, 3), keepdim=True).unsqueeze(1)
'''


@pytest.fixture(scope="session")
def user_ops(tmp_path_factory) -> Path:
    """A folder holding ``sv_test_ops.py`` (registers squeeze ``flaky``), to put on PYTHONPATH."""
    folder = tmp_path_factory.mktemp("user_ops")
    (folder / "sv_test_ops.py").write_text(FLAKY_MODULE)
    return folder


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, module: str = "se_variants.cli",
            pythonpath: list[Path] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` in ``cwd`` (a fresh folder, not the repo) and capture its output."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=600)
