"""Shared fixtures: a throwaway user-registered squeeze op, single-threaded torch, inputs for any block, and the
compatibility matrix's results (computed once per test session, read by test_parts.py and test_matrix.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze

TOY_SQUEEZE = "toy_rms"
MATRIX_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compat_matrix.py"


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
def matrix_results(matrix):
    """Every squeeze × excite × gate × dims built and trained one step, once per session (single-threaded, as the
    script runs it): ``matrix.results()``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # session-scoped, so set here, not by single_thread
    try:
        return matrix.results()
    finally:
        torch.set_num_threads(threads)
