"""Base class of squeeze ops, and the axis bookkeeping they share."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..descriptor import SPATIAL_AXES, Descriptor, check_dims
from ..registry import SpecError

__all__ = ["Squeeze", "x_dims", "spatial_dims"]


def x_dims(axes: Sequence[str], dims: int) -> tuple[int, ...]:
    """Tensor dims of x (N, C, *spatial) for axis letters (``c`` and the spatial letters of ``dims``)."""
    index = {a: i for i, a in enumerate(("c", *SPATIAL_AXES[dims]), start=1)}
    return tuple(sorted(index[a] for a in axes))


def spatial_dims(dims: int) -> tuple[int, ...]:
    """Tensor dims of the spatial axes of x (N, C, *spatial): (2,), (2, 3) or (2, 3, 4)."""
    return tuple(range(2, 2 + dims))


class Squeeze(nn.Module):
    """A squeeze op: x (N, C, *spatial) → descriptor (N, S, C', *spatial'); ``self.descriptor`` says S and the kept
    axes.

    Args:
        channels: C.
        dims: spatial dims of x (1, 2 or 3).

    Masks (padded batches): ``takes_mask`` ops have ``forward(x, mask=None)`` with ``mask`` (N, *spatial) bool,
    True = valid, and compute their statistics over valid positions only. ``mask_refusal`` is None for ops that a
    masked block may use (those, and ops that treat every position on its own), else the reason it cannot.
    """

    descriptor: Descriptor
    #: forward takes ``mask`` (statistics over valid positions only)
    takes_mask = False
    #: None: usable in a masked block; else why not (an op of your own is refused until it says otherwise)
    mask_refusal: str | None = "it does not declare that it honours a mask (see Squeeze.mask_refusal)"

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise SpecError(f"channels must be a positive int, got {channels!r}.")
        self.channels = channels
        self.dims = check_dims(dims)

    def extra_repr(self) -> str:
        return f"{self.channels}, descriptor={self.descriptor.describe()}" + self._dims_repr()

    def _dims_repr(self) -> str:
        return f", dims={self.dims}" if self.dims != 2 else ""
