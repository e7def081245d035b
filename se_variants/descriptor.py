"""The descriptor: what a squeeze op hands to an excitation op.

Every squeeze op maps x of shape (N, C, H, W) to a descriptor of shape (N, S, C', H', W'):

* S is the number of statistics per kept element (1 for ``avg``, 2 for ``avgmax``/``meanstd``, K for ``cluster``);
* C', H', W' are C, H, W for the axes the squeeze keeps and 1 for the axes it pools away.

An excitation op maps the descriptor to logits of shape (N, C', H', W') -- the *scale shape* -- which a gate turns
into the scale that multiplies x (broadcasting over the pooled axes).

``AXES`` lists the axis options of the directional squeezes (name → axes pooled away). The names follow the
design table: ``hw`` is plain SE; ``h`` (H-only descriptor) pools W; ``w`` (W-only) pools H; ``c`` (C-wise)
pools C; ``wc`` and ``hc`` pool two axes jointly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AXES", "Descriptor", "SCALE_SHAPES"]

#: axis option → axes pooled away (of "c", "h", "w")
AXES: dict[str, tuple[str, ...]] = {
    "hw": ("h", "w"),
    "h": ("w",),
    "w": ("h",),
    "c": ("c",),
    "wc": ("w", "c"),
    "hc": ("h", "c"),
}

#: axis option → scale shape, as printed in docs and the compatibility matrix
SCALE_SHAPES: dict[str, str] = {
    "hw": "(N, C, 1, 1)",
    "h": "(N, C, H, 1)",
    "w": "(N, C, 1, W)",
    "c": "(N, 1, H, W)",
    "wc": "(N, 1, H, 1)",
    "hc": "(N, 1, 1, W)",
}

_DIM = {"c": 2, "h": 3, "w": 4}  # tensor dim of each axis in the (N, S, C, H, W) descriptor


@dataclass(frozen=True)
class Descriptor:
    """Static facts about a descriptor (N, S, C', H', W'), known when the squeeze op is built.

    Attributes:
        channels: C of the block's input.
        stats: S, statistics per kept element.
        keeps: kept axes, in ("c", "h", "w") order.
        reduced: the kept spatial axes are at a lower resolution than the input (GE local extent); the block
            resizes the scale back to H × W (nearest).
    """

    channels: int
    stats: int
    keeps: tuple[str, ...]
    reduced: bool = False

    @property
    def keeps_channels(self) -> bool:
        return "c" in self.keeps

    @property
    def spatial(self) -> tuple[str, ...]:
        """Kept spatial axes."""
        return tuple(a for a in self.keeps if a != "c")

    @property
    def kept_dims(self) -> tuple[int, ...]:
        """Tensor dims of the kept axes in the (N, S, C, H, W) descriptor."""
        return tuple(_DIM[a] for a in self.keeps)

    @property
    def out_channels(self) -> int:
        """C' of the scale: C when channels are kept, else 1."""
        return self.channels if self.keeps_channels else 1

    def describe(self) -> str:
        kept = "×".join(a.upper() for a in self.keeps) or "nothing"
        return f"{self.stats} stat(s) over {kept}" + (" (reduced)" if self.reduced else "")

    @staticmethod
    def from_axes(channels: int, stats: int, axes: str, reduced: bool = False) -> "Descriptor":
        pooled = AXES[axes]
        return Descriptor(channels, stats, tuple(a for a in ("c", "h", "w") if a not in pooled), reduced)
