"""Serial and parallel compositions of blocks."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from ..registry import SpecError
from . import checks

__all__ = ["Serial", "Parallel"]


def _build_all(channels: int, blocks: Any, kind: str) -> list[nn.Module]:
    from ..factory import build_block  # compositions nest specs

    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise SpecError(f"a {kind} composition needs a non-empty list 'blocks' of block specs, got {blocks!r}.")
    return [build_block(spec, channels=channels) for spec in blocks]


class Serial(nn.Sequential):
    """Blocks applied one after another (e.g. CBAM: channel then spatial). Any module can be a stage, so a block
    can follow any module: ``Serial.of(conv, build_block('se', channels=64))``.

    Args:
        channels: C of the input.
        blocks: block specs (anything ``build_block`` takes).

    Shapes: (N, C, H, W) → (N, C, H, W).
    """

    def __init__(self, channels: int, *, blocks: tuple[Any, ...] = ()):
        super().__init__(*_build_all(channels, blocks, "serial"))
        self.channels = channels

    @classmethod
    def of(cls, *modules: nn.Module) -> nn.Sequential:
        """Chain already-built modules (e.g. a conv, then a block)."""
        return nn.Sequential(*modules)


class Parallel(nn.Module):
    """Several blocks on the same input, outputs combined: ``sum`` (the seed's naive multi-SE) or ``mean``
    (triplet attention averages its three branches).

    Args:
        channels: C of the input.
        blocks: block specs.
        combine: ``sum`` or ``mean`` of the block outputs.

    Shapes: (N, C, H, W) → (N, C, H, W).
    """

    def __init__(self, channels: int, *, blocks: tuple[Any, ...] = (), combine: Literal["sum", "mean"] = "sum"):
        super().__init__()
        self.channels = channels
        self.branches = nn.ModuleList(_build_all(channels, blocks, "parallel"))
        self.combine = combine
        self.weight = 1.0 / len(self.branches) if combine == "mean" else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_input(x, self.channels, "Parallel")
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out * self.weight if self.combine == "mean" else out

    def extra_repr(self) -> str:
        return f"{self.channels}, combine={self.combine!r}"
