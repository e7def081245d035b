"""Presets beyond images against references we did not write: MONAI's ChannelSELayer / ResidualSELayer (1-D,
2-D, 3-D), segmentation_models_pytorch's SCSEModule (2-D) and the scSE reference code's max combination,
fvcore's SqueezeExcitation(is_3d=True) (X3D's SE), and ECAPA-TDNN's SE block (speechbrain's SEBlock where it
imports; its formula, written out here, always).

Tolerance: float32, atol = rtol = 1e-5, train and eval mode (these blocks have no BatchNorm, so both modes
compute the same function; both are run). Weights are random everywhere and copied across.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import se_variants as sv


# the references, imported by the tests that use them (importing MONAI alone takes seconds)
@pytest.fixture(scope="module")
def monai_se():
    return pytest.importorskip("monai.networks.blocks.squeeze_and_excitation")


@pytest.fixture(scope="module")
def smp_modules():
    return pytest.importorskip("segmentation_models_pytorch.base.modules")


@pytest.fixture(scope="module")
def fvcore_se():
    return pytest.importorskip("fvcore.nn.squeeze_excitation")


TOL = dict(atol=1e-5, rtol=1e-5)
SHAPES = {1: (3, 0, 17), 2: (3, 0, 7, 9), 3: (2, 0, 4, 5, 6)}

pytestmark = pytest.mark.usefixtures("single_thread")


def _shape(dims: int, channels: int) -> tuple[int, ...]:
    shape = list(SHAPES[dims])
    shape[1] = channels
    return tuple(shape)


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src.reshape(dst.shape))


def _copy_fc(excite: torch.nn.Module, first: torch.nn.Module, second: torch.nn.Module) -> None:
    for ours, ref in ((excite.fc1, first), (excite.fc2, second)):
        _copy(ours.weight, ref.weight), _copy(ours.bias, ref.bias)


def _both_modes(ours: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor) -> None:
    for train in (True, False):
        ours.train(train), ref.train(train)
        torch.testing.assert_close(ours(x), ref(x), **TOL)


# ---------------------------------------------------------------------------------------------------- MONAI
@pytest.mark.slow  # (importing MONAI takes seconds)
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize(("channels", "r"), [(32, 2), (64, 16), (6, 4)])
def test_se_equals_monai_channel_se_layer(dims, channels, r, monai_se):
    """MONAI ChannelSELayer(spatial_dims, C, r): Linear(C, C // r, bias) → ReLU → Linear → sigmoid; r = 2 is
    MONAI's default (ours is SENet's 16, so pass reduction=r)."""
    ref = monai_se.ChannelSELayer(dims, channels, r)
    ours = sv.build_block("se", channels=channels, dims=dims, reduction=r)
    assert ours.excite.width == ref.fc[0].out_features == channels // r
    _randomize(ref)
    _copy_fc(ours.excite, ref.fc[0], ref.fc[2])
    _both_modes(ours, ref, torch.randn(_shape(dims, channels)))


@pytest.mark.slow
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_se_equals_monai_residual_se_layer(dims, monai_se):
    """MONAI ResidualSELayer: LeakyReLU (slope 0.01) hidden, ReLU (unbounded) gate, y = x · s + x."""
    ref = monai_se.ResidualSELayer(dims, 24)
    ours = sv.build_block("se", channels=24, dims=dims, reduction=2, act="leakyrelu", gate="relu", residual=True)
    _randomize(ref)
    _copy_fc(ours.excite, ref.fc[0], ref.fc[2])
    _both_modes(ours, ref, torch.randn(_shape(dims, 24)))


# ---------------------------------------------------------------------------------------------------- scSE
@pytest.mark.parametrize("channels", [32, 64, 48])
def test_scse_equals_smp_scse_module(channels, smp_modules):
    """smp SCSEModule(C, reduction=16): x · cSE(x) + x · sSE(x), cSE with 1×1 convs (bias), sSE a 1×1 conv C→1."""
    ref = smp_modules.SCSEModule(channels)
    ours = sv.build_block("scse", channels=channels)
    cse, sse = ours.branches
    assert cse.excite.width == ref.cSE[1].out_channels == channels // 16
    _randomize(ref)
    _copy_fc(cse.excite, ref.cSE[1], ref.cSE[3])
    _copy(sse.squeeze.conv.weight, ref.sSE[0].weight), _copy(sse.squeeze.conv.bias, ref.sSE[0].bias)
    _both_modes(ours, ref, torch.randn(3, channels, 7, 9))


def _scse_formula(x: torch.Tensor, block: torch.nn.Module, combine) -> torch.Tensor:
    """Roy et al. 2018: cSE = σ(W2 δ(W1 z)), z the spatial mean; sSE = σ(conv1×1(x)) per position."""
    cse, sse = block.branches
    e = cse.excite
    z = x.mean(tuple(range(2, x.dim())))
    c = torch.sigmoid(F.linear(F.relu(F.linear(z, e.fc1.weight, e.fc1.bias)), e.fc2.weight, e.fc2.bias))
    conv = sse.squeeze.conv
    q = torch.sigmoid((x * conv.weight.reshape(1, -1, *([1] * (x.dim() - 2)))).sum(1, keepdim=True) + conv.bias)
    return combine(x * c.reshape(*c.shape, *([1] * (x.dim() - 2))), x * q)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("combine", ["sum", "max"])
def test_scse_formula_in_every_dims_and_the_reference_codes_max(dims, combine):
    block = sv.build_block("scse", channels=32, dims=dims, combine=combine).eval()
    _randomize(block)
    x = torch.randn(_shape(dims, 32))
    op = torch.add if combine == "sum" else torch.maximum
    torch.testing.assert_close(block(x), _scse_formula(x, block, op), **TOL)


def test_scse_works_where_smp_fails_c_below_reduction(smp_modules):
    with pytest.raises(RuntimeError):  # smp builds a conv with C // 16 = 0 output channels
        smp_modules.SCSEModule(8)(torch.randn(2, 8, 5, 5))
    block = sv.build_block("scse", channels=8)
    assert block.branches[0].excite.width == 1
    assert torch.isfinite(block(torch.randn(2, 8, 5, 5))).all()


# ---------------------------------------------------------------------------------------------------- X3D
def _round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """X3D's round_width (pytorchvideo, Feichtenhofer 2020), written out."""
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    return int(out + divisor) if out < 0.9 * width else int(out)


@pytest.mark.parametrize(("channels", "width"), [(54, 8), (216, 16), (432, 32), (108, 8), (24, 8)])
def test_x3d_se_equals_fvcore_squeeze_excitation_3d(channels, width, fvcore_se):
    assert _round_width(channels, 0.0625) == width
    ref = fvcore_se.SqueezeExcitation(channels, width, is_3d=True)
    ours = sv.build_block("x3d_se", channels=channels, dims=3)
    assert ours.excite.width == width
    _randomize(ref)
    _copy_fc(ours.excite, ref.block[0], ref.block[2])
    _both_modes(ours, ref, torch.randn(2, channels, 3, 4, 5))


# ---------------------------------------------------------------------------------------------------- ECAPA-TDNN
def _ecapa_se_formula(x: torch.Tensor, lengths: torch.Tensor | None, block: torch.nn.Module) -> torch.Tensor:
    """speechbrain ECAPA_TDNN.SEBlock (Desplanques et al. 2020), written out: with relative ``lengths`` the mean
    runs over the frames t < lengths · T; conv1 (C → 128, bias) → ReLU → conv2 (bias) → sigmoid; y = s · x."""
    t = x.shape[-1]
    if lengths is None:
        s = x.mean(-1)
    else:
        valid = (torch.arange(t)[None, :] < lengths[:, None] * t).to(x.dtype)[:, None, :]
        s = (x * valid).sum(-1) / valid.sum(-1)
    e = block.excite
    s = torch.sigmoid(F.linear(F.relu(F.linear(s, e.fc1.weight, e.fc1.bias)), e.fc2.weight, e.fc2.bias))
    return s[:, :, None] * x


@pytest.mark.parametrize("lengths", [None, torch.tensor([1.0, 0.6, 0.35])], ids=["full", "padded"])
def test_ecapa_se_equals_its_formula(lengths):
    block = sv.build_block("ecapa_se", channels=64, dims=1)
    assert block.excite.width == 128  # a fixed bottleneck, wider than C here as in ECAPA's early layers
    _randomize(block)
    x = torch.randn(3, 64, 20)
    mask = None if lengths is None else sv.lengths_to_mask(lengths, 20)
    torch.testing.assert_close(block(x, mask=mask), _ecapa_se_formula(x, lengths, block), **TOL)


def test_ecapa_se_equals_speechbrain_se_block():
    ecapa = pytest.importorskip("speechbrain.lobes.models.ECAPA_TDNN",
                                reason="speechbrain needs torchaudio, which has no build for this torch")
    ref = ecapa.SEBlock(64, 128, 64)
    ours = sv.build_block("ecapa_se", channels=64, dims=1)
    _randomize(ref)
    _copy_fc(ours.excite, ref.conv1.conv, ref.conv2.conv)  # speechbrain's Conv1d wraps torch's as .conv
    x, lengths = torch.randn(3, 64, 20), torch.tensor([1.0, 0.6, 0.35])
    torch.testing.assert_close(ours(x, mask=sv.lengths_to_mask(lengths, 20)), ref(x, lengths), **TOL)
    torch.testing.assert_close(ours(x), ref(x), **TOL)
