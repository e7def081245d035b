"""Channel-attention presets that are one SE block with particular parts: ``se``, ``ese``, ``eca``, ``srm``,
``ge``, ``gc``, ``fca``, and the SE blocks of ECAPA-TDNN (``ecapa_se``) and X3D (``x3d_se``)."""

from __future__ import annotations

from typing import Literal

from ..compose import SEBlock
from ..excite.base import make_divisible, refuse_unused
from ..excite.fc import Activation
from ..registry import PRESET, SpecError

__all__ = ["se", "ese", "eca", "srm", "ge", "gc", "fca", "ecapa_se", "x3d_se", "ECAPA_SE_WIDTH", "X3D_SE_RATIO"]

#: ECAPA-TDNN (Desplanques et al. 2020; speechbrain's ECAPA_TDNN se_channels): a fixed bottleneck of 128.
ECAPA_SE_WIDTH = 128
#: X3D (Feichtenhofer 2020; pytorchvideo's create_x3d se_ratio): width round_width(C · 0.0625), multiples of 8.
X3D_SE_RATIO = 0.0625


@PRESET.register("se")
def se(
    channels: int,
    dims: int = 2,
    *,
    reduction: float = 16,
    hidden: int | None = None,
    divisor: int = 0,
    round_limit: float = 0.0,
    bias: bool = True,
    act: Activation = "relu",
    gate: Literal["sigmoid", "hard_sigmoid", "tanh", "relu"] = "sigmoid",
    residual: bool = False,
) -> SEBlock:
    """SENet (Hu et al. 2018): avg → FC C→C/r → ReLU → FC → sigmoid → x · s.

    Defaults follow the paper and released models (r = 16, hidden C // r, biases). timm ``SEModule``:
    divisor=8; torchvision ``SqueezeExcitation``: hidden=<its squeeze_channels>. MONAI ``ChannelSELayer(dims,
    C, r)``: reduction=r (MONAI's default is 2); ``ResidualSELayer``: act=leakyrelu, gate=relu, residual=true
    (y = x · s + x).

    Shapes: (N, C, *spatial) → (N, C, *spatial), any dims; takes a mask.
    """
    fc = dict(name="fc", reduction=reduction, hidden=hidden, divisor=divisor, round_limit=round_limit, bias=bias,
              act=act)
    return SEBlock(channels, dims, squeeze="avg", excite=fc, gate=gate, fuse="residual" if residual else "scale")


@PRESET.register("ese")
def ese(channels: int, dims: int = 2) -> SEBlock:
    """Effective SE (CenterMask, Lee & Park 2020): avg → one FC C→C (bias) → hard sigmoid. Equals timm
    ``EffectiveSEModule``. Shapes: (N, C, *spatial) → same."""
    return SEBlock(channels, dims, squeeze="avg", excite=dict(name="fc", layers=1, bias=True), gate="hard_sigmoid")


@PRESET.register("eca")
def eca(channels: int, dims: int = 2, *, kernel_size: int | None = None, gamma: float = 2.0,
        beta: float = 1.0) -> SEBlock:
    """ECA-Net (Wang et al. 2020): avg → Conv1d across C (k adaptive: γ=2, b=1; no bias) → sigmoid.

    timm ``EcaModule`` clamps k >= 3, which differs from the paper only for C < 8. Shapes: (N, C, *spatial) →
    same.
    """
    conv = dict(name="conv1d", kernel_size=kernel_size, gamma=gamma, beta=beta)
    return SEBlock(channels, dims, squeeze="avg", excite=conv, gate="sigmoid")


@PRESET.register("srm")
def srm(channels: int, dims: int = 2) -> SEBlock:
    """SRM (Lee et al. 2019): style pooling (mean, unbiased std) → channel-wise FC (init 0) → BN → sigmoid.
    Shapes: (N, C, *spatial) → same."""
    return SEBlock(channels, dims, squeeze="meanstd", excite=dict(name="cfc", norm="bn"), gate="sigmoid")


@PRESET.register("ge")
def ge(channels: int, dims: int = 2, *, extent: int = 0, mlp: bool = True, reduction: float = 16) -> SEBlock:
    """Gather-Excite GE-θ (Hu et al. 2018): strided depthwise-conv gather with BN → [MLP C→C/r→C] → sigmoid,
    resized back to the input size (nearest) for a local extent.

    ``mlp=True`` is GE-θ⁺, ``False`` GE-θ (then ``reduction`` does not apply). extent 2/4/8/16 is the paper's
    local gather; extent 0 (global) uses three stride-2 convs then a global mean so it accepts any input size
    (the paper uses one full-map depthwise conv, which fixes the input size). Shapes: (N, C, *spatial) → same.
    """
    if not mlp:
        refuse_unused("ge", ge, dict(reduction=reduction), "with mlp=false (GE-θ has no MLP)")
    excite = dict(name="fc", reduction=reduction, bias=True) if mlp else "identity"
    return SEBlock(channels, dims, squeeze=dict(name="conv", extent=extent), excite=excite, gate="sigmoid")


@PRESET.register("gc")
def gc(channels: int, dims: int = 2, *, style: Literal["timm", "official"] = "timm",
       reduction: float | None = None) -> SEBlock:
    """Global context block (Cao et al. 2019): softmax attention pooling → 1×1 conv C→C/r → LayerNorm → ReLU →
    1×1 conv → fused with x.

    ``style="timm"`` (default, equals timm ``GlobalContext``/``gc``): r = 8 rounded half up, LN eps 1e-6,
    sigmoid-gated scaling. ``style="official"`` (GCNet): r = 16 floored, LN eps 1e-5, added to x (gate identity).
    Shapes: (N, C, *spatial) → same.
    """
    if style == "timm":
        fc = dict(name="fc", reduction=reduction or 8, divisor=1, norm="ln", norm_eps=1e-6)
        return SEBlock(channels, dims, squeeze="attn", excite=fc, gate="sigmoid", fuse="scale")
    fc = dict(name="fc", reduction=reduction or 16, norm="ln", norm_eps=1e-5)
    return SEBlock(channels, dims, squeeze="attn", excite=fc, gate="identity", fuse="add")


@PRESET.register("fca")
def fca(
    channels: int,
    dims: int = 2,
    *,
    reduction: float = 16,
    freqs: Literal["top1", "top2", "top4", "top8", "top16", "top32"] = "top16",
    size: int = 7,
) -> SEBlock:
    """FcaNet (Qin et al. 2021): multi-spectral DCT pooling (top-16 frequencies) → FC C→C/r → ReLU → FC (no
    biases) → sigmoid. ``size`` is the DCT map size (56/28/14/7 for ResNet stages 1-4). 2-D, and 3-D averaged over
    D; no 1-D version. Shapes: (N, C, *spatial) → same."""
    fc = dict(name="fc", reduction=reduction, bias=False)
    return SEBlock(channels, dims, squeeze=dict(name="dct", freqs=freqs, size=size), excite=fc, gate="sigmoid")


@PRESET.register("ecapa_se")
def ecapa_se(channels: int, dims: int = 2, *, width: int = ECAPA_SE_WIDTH) -> SEBlock:
    """ECAPA-TDNN's SE block (Desplanques et al. 2020; speechbrain ``SEBlock``), for (N, C, T) inputs (dims=1):
    mean over T (over valid frames with a mask) → 1×1 conv C→width (bias) → ReLU → 1×1 conv → sigmoid → x · s.

    The bottleneck is a fixed ``width`` (ECAPA: 128) rather than C / r. With ``mask`` (N, T) padded frames do not
    enter the mean and are scaled, not zeroed, as speechbrain does with ``lengths``
    (``se_variants.lengths_to_mask(lengths, T)`` converts them). Shapes: (N, C, *spatial) → same.
    """
    return se(channels, dims, hidden=width)


@PRESET.register("x3d_se")
def x3d_se(channels: int, dims: int = 2, *, ratio: float = X3D_SE_RATIO) -> SEBlock:
    """X3D's SE block (Feichtenhofer 2020; fvcore ``SqueezeExcitation(is_3d=True)`` in pytorchvideo), for
    (N, C, T, H, W) inputs (dims=3): mean over T, H, W → 1×1×1 conv C→width (bias) → ReLU → 1×1×1 conv →
    sigmoid → x · s.

    width = round_width(C · ratio): the nearest multiple of 8, at least 8, one multiple more when rounding lost
    over 10 % (C = 54 → 8, 216 → 16, 432 → 32). Shapes: (N, C, *spatial) → same.
    """
    if not 0 < ratio <= 1:
        raise SpecError(f"x3d_se: ratio must be in (0, 1] (X3D: {X3D_SE_RATIO}), got {ratio}.")
    return se(channels, dims, hidden=make_divisible(channels * ratio, 8, round_limit=0.9))
