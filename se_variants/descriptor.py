"""The descriptor: what a squeeze op hands to an excitation op, for 1-D, 2-D and 3-D inputs.

A block built with ``dims`` = 1, 2 or 3 takes x of shape (N, C, *spatial) -- (N, C, L), (N, C, H, W) or
(N, C, D, H, W). Every squeeze op maps x to a descriptor of shape (N, S, C', *spatial'):

* S is the number of statistics per kept element (1 for ``avg``, 2 for ``avgmax``/``meanstd``, K for ``cluster``);
* C' and spatial' are C and the spatial sizes for the axes the squeeze keeps, and 1 for the axes it pools away.

An excitation op maps the descriptor to logits of shape (N, C', *spatial') -- the *scale shape* -- which a gate
turns into the scale that multiplies x (broadcasting over the pooled axes).

The axis option of the pooling squeezes (``axes``) names what is pooled away. One table for every ``dims``
(:data:`NAMED_AXES`); a list of axis letters (``[d]``, ``[h, w]``, ``[c, l]``) pools exactly those axes:

=========  ==================  ====================  ======================  =========================
``axes``   pools               1-D (N, C, L)         2-D (N, C, H, W)        3-D (N, C, D, H, W)
=========  ==================  ====================  ======================  =========================
spatial    every spatial axis  (N, C, 1)             (N, C, 1, 1)            (N, C, 1, 1, 1)
c          C                   (N, 1, L)             (N, 1, H, W)            (N, 1, D, H, W)
hw         H, W                --                    (N, C, 1, 1) = spatial  --
d          H, W (keeps C, D)   --                    --                      (N, C, D, 1, 1)
h          (keeps C, H)        --                    W: (N, C, H, 1)         D, W: (N, C, 1, H, 1)
w          (keeps C, W)        --                    H: (N, C, 1, W)         D, H: (N, C, 1, 1, W)
wc         W, C (keeps H)      --                    (N, 1, H, 1)            --
hc         H, C (keeps W)      --                    (N, 1, 1, W)            --
=========  ==================  ====================  ======================  =========================

The 2-D names are the design card's: ``h`` is the "H-only" descriptor, so it *keeps* H (and pools W); in 3-D
``d``, ``h`` and ``w`` keep C and that one axis. The axis letters are ``l`` (1-D: length or time), ``h, w``
(2-D) and ``d, h, w`` (3-D: depth or time, height, width), plus ``c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .registry import SpecError, suggest

__all__ = ["SPATIAL_AXES", "NAMED_AXES", "Descriptor", "pooled_axes", "scale_shape", "input_shape", "check_dims"]

#: dims → the spatial axis letters of an input (N, C, *spatial)
SPATIAL_AXES: dict[int, tuple[str, ...]] = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}

#: axis option name → {dims: axes pooled away}; dims missing from an entry do not have that name
NAMED_AXES: dict[str, dict[int, tuple[str, ...]]] = {
    "spatial": {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")},
    "c": {1: ("c",), 2: ("c",), 3: ("c",)},
    "hw": {2: ("h", "w")},
    "d": {3: ("h", "w")},
    "h": {2: ("w",), 3: ("d", "w")},
    "w": {2: ("h",), 3: ("d", "h")},
    "wc": {2: ("w", "c")},
    "hc": {2: ("h", "c")},
}


def check_dims(dims: object) -> int:
    """``dims`` if it is 1, 2 or 3, else SpecError."""
    if isinstance(dims, bool) or dims not in SPATIAL_AXES:
        raise SpecError(f"dims must be 1 (N, C, L), 2 (N, C, H, W) or 3 (N, C, D, H, W), got {dims!r}.")
    return dims  # type: ignore[return-value]


def input_shape(dims: int, channels: int | str = "C") -> str:
    """``(N, C, H, W)``-style text of an input with ``dims`` spatial axes."""
    return "(" + ", ".join(["N", f"C={channels}" if channels != "C" else "C",
                            *(a.upper() for a in SPATIAL_AXES[dims])]) + ")"


def pooled_axes(axes: str | Sequence[str], dims: int) -> tuple[str, ...]:
    """The axes (letters of ``c`` and :data:`SPATIAL_AXES`) that the option ``axes`` pools for ``dims``.

    ``axes`` is a name of :data:`NAMED_AXES` or a list of axis letters. Raises SpecError naming what works.
    """
    letters = ("c", *SPATIAL_AXES[dims])
    if isinstance(axes, str):
        per_dims = NAMED_AXES.get(axes)
        if per_dims is None:
            names = list(NAMED_AXES)
            raise SpecError(f"Unknown axes {axes!r}.{suggest(axes, names)} Names: {', '.join(names)}, or a list of "
                            f"the axes to pool, e.g. {list(letters[1:])}.")
        if dims not in per_dims:
            valid = [n for n, p in NAMED_AXES.items() if dims in p]
            where = ", ".join(f"{d}-D" for d in per_dims)
            raise SpecError(
                f"axes {axes!r} is defined for {where} inputs, not for {dims}-D {input_shape(dims)}. For {dims}-D "
                f"use {', '.join(valid)}, or a list of the axes to pool away (letters {', '.join(letters)}), "
                f"e.g. axes=[{letters[-1]}]."
            )
        return per_dims[dims]
    pooled = tuple(axes)
    bad = [a for a in pooled if a not in letters]
    if bad or not pooled or len(set(pooled)) != len(pooled) or set(pooled) == set(letters):
        raise SpecError(
            f"axes {list(pooled)}: a list of axes to pool away names each of {', '.join(letters)} ({dims}-D "
            f"{input_shape(dims)}) at most once, at least one and not all of them."
        )
    return tuple(a for a in letters if a in pooled)


def scale_shape(pooled: Sequence[str], dims: int) -> str:
    """Symbolic scale shape, e.g. ``(N, C, 1, 1)`` for pooled ("h", "w") in 2-D."""
    letters = ("c", *SPATIAL_AXES[dims])
    return "(" + ", ".join(["N", *("1" if a in pooled else a.upper() for a in letters)]) + ")"


@dataclass(frozen=True)
class Descriptor:
    """Static facts about a descriptor (N, S, C', *spatial'), known when the squeeze op is built.

    Attributes:
        channels: C of the block's input.
        stats: S, statistics per kept element.
        keeps: kept axes, in (c, *spatial axes) order.
        reduced: the kept spatial axes are at a lower resolution than the input (GE local extent); the block
            resizes the scale back to the input's size (nearest).
        dims: spatial dims of the input (1, 2 or 3); the descriptor has dims + 3 axes.
    """

    channels: int
    stats: int
    keeps: tuple[str, ...]
    reduced: bool = False
    dims: int = 2

    def __post_init__(self) -> None:
        letters = ("c", *SPATIAL_AXES[check_dims(self.dims)])
        if any(a not in letters for a in self.keeps) or tuple(a for a in letters if a in self.keeps) != self.keeps:
            raise SpecError(f"Descriptor keeps {self.keeps}: expected a subset of {letters} in that order.")

    @property
    def keeps_channels(self) -> bool:
        return "c" in self.keeps

    @property
    def spatial(self) -> tuple[str, ...]:
        """Kept spatial axes."""
        return tuple(a for a in self.keeps if a != "c")

    @property
    def out_channels(self) -> int:
        """C' of the scale: C when channels are kept, else 1."""
        return self.channels if self.keeps_channels else 1

    def describe(self) -> str:
        kept = "×".join(a.upper() for a in self.keeps) or "nothing"
        return f"{self.stats} stat(s) over {kept}" + (" (reduced)" if self.reduced else "")

    def shape(self) -> str:
        """Symbolic shape, e.g. ``(N, 2, C, 1, 1)``; reduced axes read ``H/e``."""
        letters = ("c", *SPATIAL_AXES[self.dims])
        sizes = ["1" if a not in self.keeps else a.upper() + ("/e" if self.reduced and a != "c" else "")
                 for a in letters]
        return "(" + ", ".join(["N", str(self.stats), *sizes]) + ")"

    @staticmethod
    def from_axes(channels: int, stats: int, axes: str | Sequence[str], dims: int = 2) -> "Descriptor":
        """The descriptor of a squeeze that pools ``axes`` (a :data:`NAMED_AXES` name or a list of letters)."""
        pooled = pooled_axes(axes, check_dims(dims))
        return Descriptor(channels, stats, tuple(a for a in ("c", *SPATIAL_AXES[dims]) if a not in pooled),
                          dims=dims)
