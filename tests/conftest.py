"""Shared fixtures: a throwaway user-registered squeeze op, single-threaded torch, inputs for any block."""

from __future__ import annotations

import pytest
import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze

TOY_SQUEEZE = "toy_rms"


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
