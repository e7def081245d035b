"""Statistic pooling over chosen axes: ``avg``, ``max``, ``avgmax``, ``std``, ``meanstd`` and the directional
squeezes ``h``, ``w``, ``c``, ``wc``, ``hc``.

One class, registered under several names with different default ``stats`` and ``axes``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.fx

from ..descriptor import AXES, Descriptor
from ..registry import SQUEEZE, SpecError
from .base import Squeeze, pooled_dims

__all__ = ["Pool", "Stat", "Axes", "STD_EPS"]

Stat = Literal["avg", "max", "std"]
Axes = Literal["hw", "h", "w", "c", "wc", "hc"]

#: SRM (Lee et al. 2019) official code adds 1e-5 to the variance before the square root.
STD_EPS = 1e-5


def _avg(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x.mean(dims, keepdim=True)


def _max(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x.amax(dims, keepdim=True)


def _std(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    # Unbiased (n - 1) variance as in SRM; for a single pooled element n - 1 is clamped to 1 so the result is
    # sqrt(eps) instead of NaN, and gradients stay finite.
    n = 1
    for d in dims:
        n *= x.shape[d]
    var = torch.var(x, dim=dims, keepdim=True, correction=0) * (n / max(n - 1, 1))
    return (var + STD_EPS).sqrt()


_STATS = {"avg": _avg, "max": _max, "std": _std}


def pool_stat(name: str, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Statistic ``name`` of x over ``dims`` (keepdim). A leaf for torch.fx (std branches on sizes)."""
    return _STATS[name](x, dims)


torch.fx.wrap("pool_stat")


@SQUEEZE.register("hc", axes="hc")
@SQUEEZE.register("wc", axes="wc")
@SQUEEZE.register("c", axes="c")
@SQUEEZE.register("w", axes="w")
@SQUEEZE.register("h", axes="h")
@SQUEEZE.register("meanstd", stats=("avg", "std"))
@SQUEEZE.register("std", stats=("std",))
@SQUEEZE.register("avgmax", stats=("avg", "max"))
@SQUEEZE.register("max", stats=("max",))
@SQUEEZE.register("avg")
class Pool(Squeeze):
    """Statistics (avg / max / unbiased std) over the pooled axes; one descriptor entry per statistic.

    Options:
        stats: statistics, in order (the order matters to a conv over stacked stats, e.g. CBAM's spatial branch).
        axes: what is pooled away -- ``hw`` (SE), ``h`` (pools W, keeps H), ``w`` (pools H, keeps W),
            ``c`` (pools C), ``wc`` (pools W and C), ``hc`` (pools H and C).

    Shapes: (N, C, H, W) → (N, len(stats), C', H', W'), the pooled axes of size 1. ``std`` is SRM's
    sqrt(unbiased var + 1e-5); over a single element (a 1×1 map) it is sqrt(1e-5), not NaN.
    """

    def __init__(self, channels: int, *, stats: tuple[Stat, ...] = ("avg",), axes: Axes = "hw"):
        super().__init__(channels)
        if not stats:
            raise SpecError("Pool needs at least one statistic in 'stats' (avg, max, std).")
        if len(set(stats)) != len(stats):
            raise SpecError(f"'stats' repeats a statistic: {list(stats)}; list each of avg, max, std once.")
        self.stats = tuple(stats)
        self.axes = axes
        self.dims = pooled_dims(AXES[axes])
        self.descriptor = Descriptor.from_axes(channels, len(self.stats), axes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.stats) == 1:
            return pool_stat(self.stats[0], x, self.dims).unsqueeze(1)
        return torch.stack([pool_stat(s, x, self.dims) for s in self.stats], 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, stats={list(self.stats)}, axes={self.axes!r}"
