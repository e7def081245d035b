"""``cbam`` (Woo et al. 2018) and ``triplet`` (Misra et al. 2021): channel/spatial blocks composed from parts."""

from __future__ import annotations

from typing import Literal

from ..compose import Parallel, Serial
from ..registry import PRESET

__all__ = ["cbam", "triplet"]


@PRESET.register("cbam")
def cbam(
    channels: int,
    *,
    style: Literal["official", "timm"] = "official",
    reduction: float = 16,
    kernel_size: int = 7,
) -> Serial:
    """CBAM: channel attention (avg and max each through one shared MLP C→C/r→C, summed, sigmoid), then spatial
    attention ([max, mean] over C → 7×7 conv (no bias) → BN → sigmoid).

    ``style="official"`` (default; the authors' code): MLP with biases, hidden C // r, spatial stack [max, mean],
    BN momentum 0.01. ``style="timm"`` (equals timm ``CbamModule``): no MLP biases, hidden rounded half up,
    [mean, max], BN momentum 0.1.
    """
    official = style == "official"
    mlp = dict(name="fc", reduction=reduction, bias=official, divisor=0 if official else 1)
    stats = ["max", "avg"] if official else ["avg", "max"]
    conv = dict(name="conv1d", kernel_size=kernel_size, norm="bn", bn_momentum=0.01 if official else 0.1)
    return Serial(channels, blocks=(
        dict(squeeze="avgmax", excite=mlp, gate="sigmoid"),
        dict(squeeze=dict(name="c", stats=stats), excite=conv, gate="sigmoid"),
    ))


@PRESET.register("triplet")
def triplet(channels: int, *, kernel_size: int = 7, spatial: bool = True) -> Parallel:
    """Triplet attention: three branches, each [max, mean] pooling over one axis → k×k conv (no bias) → BN
    (momentum 0.01) → sigmoid on the remaining plane, outputs averaged.

    Branches in the official order: pool H (conv on the C×W plane, squeeze ``w``), pool W (C×H plane, squeeze
    ``h``; our kernel is the transpose of the official one, which convolves the H×C plane), pool C (H×W, squeeze
    ``c``). ``spatial=False`` drops the third branch (official ``no_spatial``), averaging the other two.
    """
    conv = dict(name="conv1d", kernel_size=kernel_size, norm="bn", bn_momentum=0.01)
    axes = ["w", "h", "c"] if spatial else ["w", "h"]
    blocks = tuple(dict(squeeze=dict(name=a, stats=["max", "avg"]), excite=conv, gate="sigmoid") for a in axes)
    return Parallel(channels, blocks=blocks, combine="mean")
