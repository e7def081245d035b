"""``cbam`` (Woo et al. 2018) and ``triplet`` (Misra et al. 2021): channel/spatial blocks composed from parts."""

from __future__ import annotations

from typing import Literal

from ..compose import Parallel, SEBlock, Serial
from ..descriptor import SPATIAL_AXES, check_dims
from ..registry import PRESET

__all__ = ["cbam", "triplet"]


@PRESET.register("cbam")
def cbam(
    channels: int,
    dims: int = 2,
    *,
    style: Literal["official", "timm"] = "official",
    reduction: float = 16,
    kernel_size: int = 7,
) -> Serial:
    """CBAM: channel attention (avg and max each through one shared MLP C→C/r→C, summed, sigmoid), then spatial
    attention ([max, mean] over C → 7×7 conv (no bias) → BN → sigmoid; 1-D: a k conv along L, 3-D: k×k×k).

    ``style="official"`` (default; the authors' code): MLP with biases, hidden C // r, spatial stack [max, mean],
    BN momentum 0.01. ``style="timm"`` (equals timm ``CbamModule``): no MLP biases, hidden rounded half up,
    [mean, max], BN momentum 0.1. Shapes: (N, C, *spatial) → same.
    """
    official = style == "official"
    mlp = dict(name="fc", reduction=reduction, bias=official, divisor=0 if official else 1)
    stats = ["max", "avg"] if official else ["avg", "max"]
    conv = dict(name="conv1d", kernel_size=kernel_size, norm="bn", bn_momentum=0.01 if official else 0.1)
    return Serial(channels, dims, blocks=(
        SEBlock(channels, dims, squeeze="avgmax", excite=mlp, gate="sigmoid"),
        SEBlock(channels, dims, squeeze=dict(name="c", stats=stats), excite=conv, gate="sigmoid"),
    ))


@PRESET.register("triplet")
def triplet(channels: int, dims: int = 2, *, kernel_size: int = 7, spatial: bool = True) -> Parallel:
    """Triplet attention: one branch per axis of (C, *spatial), each [max, mean] pooling over that axis → k^n conv
    (no bias) over the remaining axes → BN (momentum 0.01) → sigmoid, outputs averaged.

    2-D, in the official order: pool H (conv on the C×W plane), pool W (C×H plane; our kernel is the transpose of
    the official one, which convolves the H×C plane), pool C (H×W). 1-D: pool L (a conv along C), pool C; 3-D:
    pool D, H, W (3-D convs on the C×H×W, C×D×W, C×D×H volumes), pool C. ``spatial=False`` drops the branch that
    pools C (official ``no_spatial``). Shapes: (N, C, *spatial) → same.
    """
    conv = dict(name="conv1d", kernel_size=kernel_size, norm="bn", bn_momentum=0.01)
    axes = [[a] for a in SPATIAL_AXES[check_dims(dims)]] + ([["c"]] if spatial else [])
    return Parallel(channels, dims, combine="mean", blocks=tuple(
        SEBlock(channels, dims, squeeze=dict(name="avg", stats=["max", "avg"], axes=a), excite=conv, gate="sigmoid")
        for a in axes))
