"""Shared fixtures: a throwaway user-registered squeeze op, single-threaded torch, inputs for any block, and the
compatibility matrix's results (computed once per test session, read by test_parts.py and test_matrix.py);
``once`` for what all the processes of a session (pytest-xdist workers) can share."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib.util
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze

#: the garbage collector's thresholds in a test process: a collection of the oldest generation walks every object
#: the session holds (thousands of collected tests, torch, Lightning, Hydra); measured on tests/runner/test_plan.py,
#: test_configs.py and test_sweep.py, the collector took 4.9 s of 50 s with Python's default (700, 10, 10) and 2.4 s
#: with these and what collection made frozen (``gc.freeze``: never walked again)
GC_THRESHOLDS = (50_000, 20, 100)

TOY_SQUEEZE = "toy_rms"
MATRIX_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compat_matrix.py"


def pytest_configure(config):
    gc.set_threshold(*GC_THRESHOLDS)


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()


class ToyRMS(Squeeze):
    """Root mean square over H×W (a user's op, registered only by the ``toy_squeeze`` fixture).

    Shapes: (N, C, H, W) → (N, 1, C, 1, 1).
    """

    def __init__(self, channels: int, *, eps: float = 1e-6):
        super().__init__(channels)
        self.eps = eps
        self.descriptor = Descriptor(channels, 1, ("c",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.pow(2).mean((2, 3), keepdim=True) + self.eps).sqrt().unsqueeze(1)


@pytest.fixture
def toy_squeeze():
    """Register ``ToyRMS`` as squeeze ``toy_rms`` for one test, then unregister it."""
    SQUEEZE.register(TOY_SQUEEZE)(ToyRMS)
    yield TOY_SQUEEZE
    SQUEEZE.unregister(TOY_SQUEEZE)


@pytest.fixture
def single_thread():
    """Tiny tensors run faster on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def block_inputs(block: torch.nn.Module, shape: tuple[int, ...], **kwargs) -> list[torch.Tensor]:
    """Random inputs for ``block``: one tensor of ``shape``, or K of them for a multi-input block (``inputs=K``)."""
    k = getattr(block, "inputs", 1)
    k = k if isinstance(k, int) and not isinstance(k, bool) else 1
    return [torch.randn(shape, **kwargs) for _ in range(k)]


@pytest.fixture
def make_inputs():
    """``make_inputs(block, shape, **tensor_kwargs)`` → the list of inputs ``block`` takes (see ``block_inputs``)."""
    return block_inputs


@pytest.fixture(scope="session")
def matrix():
    """scripts/compat_matrix.py as a module."""
    spec = importlib.util.spec_from_file_location("compat_matrix", MATRIX_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="session")
def once(tmp_path_factory) -> Callable[[str, Callable[[Path], Any], Callable[[Path], Any]], Any]:
    """``once(name, make, load)``: ``make(folder)`` in the first process of the test session that asks for
    ``name`` -- all pytest-xdist workers of a session share one folder -- and ``load(folder)`` in the others, which
    wait for the first to finish (on a lock, not for a span of time). A ``make`` that fails leaves nothing behind:
    the next process makes it again (and reports its own error)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # (xdist: <session>/popen-gw<n>)

    def run(name: str, make: Callable[[Path], Any], load: Callable[[Path], Any]) -> Any:
        folder, done = root / f"once-{name}", root / f"once-{name}.done"
        with open(root / f"once-{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if done.is_file():
                    return load(folder)
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(folder)
                folder.mkdir()
                value = make(folder)
                done.touch()
                return value
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    return run


@pytest.fixture(scope="session")
def matrix_results(matrix, once):
    """Every squeeze × excite × gate × dims built and trained one step, once per test session -- in one of its
    processes, the others read them (single-threaded, as the script runs it): ``matrix.results()``, which the
    module then returns (its ``build_markdown`` reads them)."""

    def make(folder: Path) -> dict:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # session-scoped, so set here, not by single_thread
        try:
            results = matrix.results()
        finally:
            torch.set_num_threads(threads)
        (folder / "results.pickle").write_bytes(pickle.dumps(results))
        return results

    results = once("matrix", make, lambda folder: pickle.loads((folder / "results.pickle").read_bytes()))
    matrix.results = lambda: results
    return results
