"""Base class of squeeze ops."""

from __future__ import annotations

from torch import nn

from ..descriptor import Descriptor
from ..registry import SpecError

__all__ = ["Squeeze", "pooled_dims"]

_X_DIM = {"c": 1, "h": 2, "w": 3}  # dims of (N, C, H, W)


def pooled_dims(pooled: tuple[str, ...]) -> tuple[int, ...]:
    """Dims of x (N, C, H, W) for the pooled axes names."""
    return tuple(sorted(_X_DIM[a] for a in pooled))


class Squeeze(nn.Module):
    """A squeeze op: x (N, C, H, W) → descriptor (N, S, C', H', W'); ``self.descriptor`` says S and kept axes."""

    descriptor: Descriptor

    def __init__(self, channels: int):
        super().__init__()
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise SpecError(f"channels must be a positive int, got {channels!r}.")
        self.channels = channels

    def extra_repr(self) -> str:
        return f"{self.channels}, descriptor={self.descriptor.describe()}"
