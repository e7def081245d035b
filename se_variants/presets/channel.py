"""Channel-attention presets that are one SE block with particular parts: ``se``, ``ese``, ``eca``, ``srm``,
``ge``, ``gc``, ``fca``."""

from __future__ import annotations

from typing import Literal

from ..compose import SEBlock
from ..registry import PRESET

__all__ = ["se", "ese", "eca", "srm", "ge", "gc", "fca"]


@PRESET.register("se")
def se(
    channels: int,
    *,
    reduction: float = 16,
    hidden: int | None = None,
    divisor: int = 0,
    round_limit: float = 0.0,
    bias: bool = True,
) -> SEBlock:
    """SENet (Hu et al. 2018): avg → FC C→C/r → ReLU → FC → sigmoid.

    Defaults follow the paper and released models (r = 16, hidden C // r, biases). timm ``SEModule``: divisor=8;
    torchvision ``SqueezeExcitation``: hidden=<its squeeze_channels>.
    """
    fc = dict(name="fc", reduction=reduction, hidden=hidden, divisor=divisor, round_limit=round_limit, bias=bias)
    return SEBlock(channels, squeeze="avg", excite=fc, gate="sigmoid")


@PRESET.register("ese")
def ese(channels: int) -> SEBlock:
    """Effective SE (CenterMask, Lee & Park 2020): avg → one FC C→C (bias) → hard sigmoid. Equals timm
    ``EffectiveSEModule``."""
    return SEBlock(channels, squeeze="avg", excite=dict(name="fc", layers=1, bias=True), gate="hard_sigmoid")


@PRESET.register("eca")
def eca(channels: int, *, kernel_size: int | None = None, gamma: float = 2.0, beta: float = 1.0) -> SEBlock:
    """ECA-Net (Wang et al. 2020): avg → Conv1d across C (k adaptive: γ=2, b=1; no bias) → sigmoid.

    timm ``EcaModule`` clamps k >= 3, which differs from the paper only for C < 8.
    """
    conv = dict(name="conv1d", kernel_size=kernel_size, gamma=gamma, beta=beta)
    return SEBlock(channels, squeeze="avg", excite=conv, gate="sigmoid")


@PRESET.register("srm")
def srm(channels: int) -> SEBlock:
    """SRM (Lee et al. 2019): style pooling (mean, unbiased std) → channel-wise FC (init 0) → BN → sigmoid."""
    return SEBlock(channels, squeeze="meanstd", excite=dict(name="cfc", norm="bn"), gate="sigmoid")


@PRESET.register("ge")
def ge(channels: int, *, extent: int = 0, mlp: bool = True, reduction: float = 16) -> SEBlock:
    """Gather-Excite GE-θ (Hu et al. 2018): strided depthwise-conv gather with BN → [MLP C→C/r→C] → sigmoid,
    resized back to H×W (nearest) for a local extent.

    ``mlp=True`` is GE-θ⁺, ``False`` GE-θ. extent 2/4/8/16 is the paper's local gather; extent 0 (global) uses
    three stride-2 convs then a global mean so it accepts any input size (the paper uses one full-map depthwise
    conv, which fixes the input size).
    """
    excite = dict(name="fc", reduction=reduction, bias=True) if mlp else "identity"
    return SEBlock(channels, squeeze=dict(name="conv", extent=extent), excite=excite, gate="sigmoid")


@PRESET.register("gc")
def gc(channels: int, *, style: Literal["timm", "official"] = "timm", reduction: float | None = None) -> SEBlock:
    """Global context block (Cao et al. 2019): softmax attention pooling → 1×1 conv C→C/r → LayerNorm → ReLU →
    1×1 conv → fused with x.

    ``style="timm"`` (default, equals timm ``GlobalContext``/``gc``): r = 8 rounded half up, LN eps 1e-6,
    sigmoid-gated scaling. ``style="official"`` (GCNet): r = 16 floored, LN eps 1e-5, added to x (gate identity).
    """
    if style == "timm":
        fc = dict(name="fc", reduction=reduction or 8, divisor=1, norm="ln", norm_eps=1e-6)
        return SEBlock(channels, squeeze="attn", excite=fc, gate="sigmoid", fuse="scale")
    fc = dict(name="fc", reduction=reduction or 16, norm="ln", norm_eps=1e-5)
    return SEBlock(channels, squeeze="attn", excite=fc, gate="identity", fuse="add")


@PRESET.register("fca")
def fca(
    channels: int,
    *,
    reduction: float = 16,
    freqs: Literal["top1", "top2", "top4", "top8", "top16", "top32"] = "top16",
    size: int = 7,
) -> SEBlock:
    """FcaNet (Qin et al. 2021): multi-spectral DCT pooling (top-16 frequencies) → FC C→C/r → ReLU → FC (no
    biases) → sigmoid. ``size`` is the DCT map size (56/28/14/7 for ResNet stages 1-4)."""
    fc = dict(name="fc", reduction=reduction, bias=False)
    return SEBlock(channels, squeeze=dict(name="dct", freqs=freqs, size=size), excite=fc, gate="sigmoid")
