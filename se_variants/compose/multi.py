"""Serial and parallel compositions of built blocks."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..descriptor import check_dims
from ..registry import COMPOSE, SpecError
from . import checks

__all__ = ["Serial", "Parallel"]


def _first_refusal(blocks: tuple[nn.Module, ...]) -> str | None:
    for i, block in enumerate(blocks):
        reason = getattr(block, "mask_refusal", f"{type(block).__name__} does not say whether it takes a mask")
        if reason is not None:
            return f"block {i} ({type(block).__name__}): {reason}"
    return None


def _check_blocks(blocks: tuple[nn.Module, ...], kind: str) -> tuple[nn.Module, ...]:
    blocks = tuple(blocks)
    if not blocks:
        raise SpecError(f"a {kind} composition needs a non-empty list 'blocks' of blocks, e.g. "
                        f"{{'name': '{kind}', 'blocks': ['se', {{'squeeze': 'c', 'excite': 'conv1d'}}]}}.")
    return blocks


@COMPOSE.register("serial")
class Serial(nn.Sequential):
    """Blocks applied one after another (e.g. CBAM: channel then spatial).

    Args:
        channels: C of the input.
        dims: spatial dims of the input (1, 2 or 3).
        blocks: the blocks, built (modules called as ``block(x, mask)``); in a spec, a list of block specs that
            ``build_block`` builds with the same channels and dims.

    Shapes: (N, C, *spatial) → (N, C, *spatial); ``forward(x, mask=None)`` passes the mask to every block.
    """

    block_lists = ("blocks",)

    def __init__(self, channels: int, dims: int = 2, *, blocks: tuple[nn.Module, ...] = ()):
        super().__init__(*_check_blocks(blocks, "serial"))
        self.channels = channels
        self.dims = check_dims(dims)
        self.mask_refusal = _first_refusal(tuple(self))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "Serial", mask, self.mask_refusal)
        for block in self:
            x = block(x, mask)
        return x


@COMPOSE.register("parallel")
class Parallel(nn.Module):
    """Several blocks on the same input, outputs combined: ``sum`` (the seed's naive multi-SE; scSE), ``mean``
    (triplet attention averages its branches) or ``max`` (elementwise, the scSE reference code).

    Args:
        channels: C of the input.
        dims: spatial dims of the input (1, 2 or 3).
        blocks: the blocks, built; in a spec, a list of block specs.
        combine: ``sum``, ``mean`` or ``max`` of the block outputs.

    Shapes: (N, C, *spatial) → (N, C, *spatial); ``forward(x, mask=None)`` passes the mask to every block.
    """

    block_lists = ("blocks",)

    def __init__(self, channels: int, dims: int = 2, *, blocks: tuple[nn.Module, ...] = (),
                 combine: Literal["sum", "mean", "max"] = "sum"):
        super().__init__()
        self.channels = channels
        self.dims = check_dims(dims)
        self.branches = nn.ModuleList(_check_blocks(blocks, "parallel"))
        self.combine = combine
        self.weight = 1.0 / len(self.branches) if combine == "mean" else 1.0
        self.mask_refusal = _first_refusal(tuple(self.branches))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "Parallel", mask, self.mask_refusal)
        out = self.branches[0](x, mask)
        for branch in self.branches[1:]:
            y = branch(x, mask)
            out = torch.maximum(out, y) if self.combine == "max" else out + y
        return out * self.weight if self.combine == "mean" else out

    def extra_repr(self) -> str:
        return f"{self.channels}, combine={self.combine!r}" + (f", dims={self.dims}" if self.dims != 2 else "")
