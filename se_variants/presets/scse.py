"""``scse``: concurrent spatial and channel squeeze & excitation (Roy et al. 2018)."""

from __future__ import annotations

from typing import Literal

from ..compose import Parallel, SEBlock
from ..registry import PRESET

__all__ = ["scse"]


@PRESET.register("scse")
def scse(channels: int, dims: int = 2, *, reduction: float = 16, combine: Literal["sum", "max"] = "sum") -> Parallel:
    """scSE (Roy et al., MICCAI 2018): a channel SE block (cSE: avg → 1×1 conv C→C/r (bias) → ReLU → 1×1 conv →
    sigmoid) and a spatial one (sSE: 1×1 conv C→1 (bias) → sigmoid, squeeze ``proj``) on the same input, combined.

    ``combine="sum"`` (default) is segmentation_models_pytorch's ``SCSEModule``: x · cSE + x · sSE;
    ``combine="max"`` is the elementwise maximum of the reference code. The hidden width is C // r, at least 1
    (smp fails for C < r). Shapes: (N, C, *spatial) → same, any dims; takes a mask.
    """
    cse = SEBlock(channels, dims, squeeze="avg", excite=dict(name="fc", reduction=reduction), gate="sigmoid")
    sse = SEBlock(channels, dims, squeeze="proj", excite="identity", gate="sigmoid")
    return Parallel(channels, dims, blocks=(cse, sse), combine=combine)
