"""Statistic pooling over chosen axes: ``avg``, ``max``, ``avgmax``, ``std``, ``meanstd`` and the directional
squeezes ``h``, ``w``, ``d``, ``c``, ``wc``, ``hc``, for 1-D, 2-D and 3-D inputs, with masks for padded batches.

One class, registered under several names with different default ``stats`` and ``axes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.fx

from .. import mask as masks
from ..descriptor import NAMED_AXES, SPATIAL_AXES, Descriptor, pooled_axes
from ..registry import SQUEEZE, SpecError
from .base import Squeeze, x_dims

__all__ = ["Pool", "Stat", "Axes", "Axis", "STD_EPS", "pool_stat"]

Stat = Literal["avg", "max", "std"]
#: axis option names (see se_variants/descriptor.py for what each pools in 1-D, 2-D and 3-D)
Axes = Literal["spatial", "c", "hw", "h", "w", "d", "wc", "hc"]
#: axis letters, for a list of the axes to pool away
Axis = Literal["c", "l", "d", "h", "w"]

#: SRM (Lee et al. 2019) official code adds 1e-5 to the variance before the square root.
STD_EPS = 1e-5
#: the statistics in words, for :meth:`Pool.summary_for`
_STAT_NAMES = {"avg": "average", "max": "max", "std": "standard deviation"}


def _axis_list(letters: Sequence[str]) -> str:
    """``("d", "h", "w")`` → ``"D, H and W"``."""
    upper = [a.upper() for a in letters]
    return upper[0] if len(upper) == 1 else f"{', '.join(upper[:-1])} and {upper[-1]}"


def _size(x: torch.Tensor, dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= x.shape[d]
    return n


def _plain(name: str, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    if name == "avg":
        # sum, then scale the small result: the backward of a sum is an expand (a view), where the backward of
        # mean divides the full-size gradient, one more pass over x's size per training step
        return x.sum(dims, keepdim=True) * (1.0 / max(_size(x, dims), 1))
    if name == "max":
        return x.amax(dims, keepdim=True)
    # unbiased (n - 1) variance as in SRM; for a single pooled element n - 1 is clamped to 1 so the result is
    # sqrt(eps) instead of NaN, and gradients stay finite
    centred = x - x.mean(dims, keepdim=True)
    return (centred.square().sum(dims, keepdim=True) / max(_size(x, dims) - 1, 1) + STD_EPS).sqrt()


def _masked(name: str, x: torch.Tensor, dims: tuple[int, ...], mask: torch.Tensor) -> torch.Tensor:
    # padded values are selected away (torch.where), never multiplied by 0: padding may hold NaN or ±inf
    # (torch.empty, -inf log-features), and 0 · NaN = 0 · inf = NaN, in the forward and in the backward
    valid = mask.unsqueeze(1)  # (N, 1, *spatial): broadcasts over C
    spatial = tuple(d for d in dims if d >= 2)
    count = valid.sum(spatial, keepdim=True, dtype=x.dtype) * (x.shape[1] if 1 in dims else 1)
    if name == "max":
        top = x.masked_fill(~valid, float("-inf")).amax(dims, keepdim=True)
        return torch.where(count > 0, top, torch.zeros_like(top))  # no valid position: 0, not -inf
    mean = torch.where(valid, x, 0.0).sum(dims, keepdim=True) / count.clamp(min=1)
    if name == "avg":
        return mean
    centred = torch.where(valid, x - mean, 0.0)  # select, then square: padded values reach no product
    var = centred.square().sum(dims, keepdim=True) / (count - 1).clamp(min=1)
    return (var + STD_EPS).sqrt()


def pool_stat(name: str, x: torch.Tensor, dims: tuple[int, ...], mask: torch.Tensor | None = None) -> torch.Tensor:
    """Statistic ``name`` (avg / max / std) of x (N, C, *spatial) over its tensor ``dims``, as one descriptor
    entry (N, 1, C', *spatial') (the pooled axes of size 1).

    With ``mask`` (N, *spatial) bool, True = valid, only valid positions count (a pooled set without any valid
    position gives 0), whatever the padding holds (NaN and ±inf included). Pooling over C alone keeps every
    position on its own: padded positions pool zeros instead of their values, so that nothing downstream (an
    excitation's weights, their gradients) meets NaN or ±inf. A leaf for torch.fx (it branches on the mask).
    """
    if mask is None:
        return _plain(name, x, dims).unsqueeze(1)
    if all(d < 2 for d in dims):
        return _plain(name, masks.zero_padding(x, mask), dims).unsqueeze(1)
    return _masked(name, x, dims, mask).unsqueeze(1)


torch.fx.wrap("pool_stat")


@SQUEEZE.register("hc", axes="hc")
@SQUEEZE.register("wc", axes="wc")
@SQUEEZE.register("c", axes="c")
@SQUEEZE.register("d", axes="d")
@SQUEEZE.register("w", axes="w")
@SQUEEZE.register("h", axes="h")
@SQUEEZE.register("meanstd", stats=("avg", "std"))
@SQUEEZE.register("std", stats=("std",))
@SQUEEZE.register("avgmax", stats=("avg", "max"))
@SQUEEZE.register("max", stats=("max",))
@SQUEEZE.register("avg")
class Pool(Squeeze):
    """Statistics (avg / max / unbiased std) over the pooled axes; one descriptor entry per statistic.

    Args:
        stats: statistics, in order (the order matters to a conv over stacked stats, e.g. CBAM's spatial branch).
        axes: what is pooled away -- ``spatial`` (every spatial axis: SE), ``c`` (C), the 2-D names ``hw``,
            ``h`` (keeps H, pools W), ``w`` (keeps W), ``wc``, ``hc``, the 3-D ``d`` / ``h`` / ``w`` (keep C and
            that axis), or a list of axis letters (``[d]``, ``[c, l]``); see se_variants/descriptor.py.

    Shapes: (N, C, *spatial) → (N, len(stats), C', *spatial'), the pooled axes of size 1. ``std`` is SRM's
    sqrt(unbiased var + 1e-5); over a single element (a 1×1 map) it is sqrt(1e-5), not NaN. With ``mask``
    (N, *spatial) bool, True = valid, statistics over the spatial axes use valid positions only (as speechbrain's
    ECAPA ``SEBlock`` with ``lengths``).
    """

    takes_mask = True
    mask_refusal = None

    def __init__(self, channels: int, dims: int = 2, *, stats: tuple[Stat, ...] = ("avg",),
                 axes: Axes | tuple[Axis, ...] = "spatial"):
        super().__init__(channels, dims)
        if not stats:
            raise SpecError("Pool needs at least one statistic in 'stats' (avg, max, std).")
        if len(set(stats)) != len(stats):
            raise SpecError(f"'stats' repeats a statistic: {list(stats)}; list each of avg, max, std once.")
        self.stats = tuple(stats)
        self.axes = axes
        self.pooled = x_dims(pooled_axes(axes, self.dims), self.dims)
        self.descriptor = Descriptor.from_axes(channels, len(self.stats), axes, self.dims)

    @classmethod
    def summary_for(cls, *, stats: Sequence[str], axes: str | Sequence[str]) -> str:
        """One line on what these options pool (``se-variants list`` shows one per registered name): ``max`` is
        "Max pooling over H and W (1-D: L; 3-D: D, H and W).", ``h`` "Average pooling over W, keeping H (3-D: D
        and W; 2-D and 3-D only)."."""
        what = " and ".join(_STAT_NAMES.get(s, str(s)) for s in stats)
        per_dims = NAMED_AXES.get(axes) if isinstance(axes, str) else {
            d: tuple(axes) for d, letters in SPATIAL_AXES.items() if set(axes) <= {"c", *letters}}
        if not per_dims:
            return f"{what.capitalize()} pooling over {axes!r}."
        main = 2 if 2 in per_dims else min(per_dims)
        pooled = per_dims[main]
        kept = [a for a in SPATIAL_AXES[main] if a not in pooled]
        where = f"over {_axis_list(pooled)}" + (
            ", at every position" if pooled == ("c",) else f", keeping {_axis_list(kept)}" if kept else "")
        notes = [f"{d}-D: {_axis_list(p)}" for d, p in sorted(per_dims.items()) if d != main and p != pooled]
        if len(per_dims) < len(SPATIAL_AXES):
            notes.append(" and ".join(f"{d}-D" for d in sorted(per_dims)) + " only")
        each = "; one descriptor entry each" if len(stats) > 1 else ""
        return f"{what.capitalize()} pooling {where}{each}" + (f" ({'; '.join(notes)})." if notes else ".")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if len(self.stats) == 1:
            return pool_stat(self.stats[0], x, self.pooled, mask)
        return torch.cat([pool_stat(s, x, self.pooled, mask) for s in self.stats], 1)

    def extra_repr(self) -> str:
        axes = list(self.axes) if isinstance(self.axes, tuple) else repr(self.axes)
        return f"{self.channels}, stats={list(self.stats)}, axes={axes}" + self._dims_repr()
