"""Presets against references we did not write: torchvision and timm modules with weights copied across, and
the papers' formulas (written out independently here) where timm lacks the module or differs from the paper.

Tolerance: float32, max abs difference <= 1e-5 (rtol 1e-5) on random inputs; the computations are the same
up to operation order.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import se_variants as sv



class _Reference:
    """A reference module imported on first use, by the test that uses it (a test skips where it is missing);
    importing timm alone takes a second of every test run's collection."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("_"):  # pytest's collection looks for its own attributes on every module global
            raise AttributeError(attr)
        return getattr(pytest.importorskip(self._name), attr)


timm_layers = _Reference("timm.layers")
timm_cbam = _Reference("timm.layers.cbam")
timm_coord = _Reference("timm.layers.coord_attn")
timm_sk = _Reference("timm.layers.selective_kernel")
tv_ops = _Reference("torchvision.ops")

TOL = dict(atol=1e-5, rtol=1e-5)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, **TOL)


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src.reshape(dst.shape))


def _randomize(module: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere (also BN affine/running stats) so that a wrong mapping cannot pass."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)


def _copy_bn(dst: torch.nn.Module, src: torch.nn.Module) -> None:
    for attr in ("weight", "bias", "running_mean", "running_var"):
        _copy(getattr(dst, attr), getattr(src, attr))


def _both_modes(ours: torch.nn.Module, ref: torch.nn.Module, *inputs: torch.Tensor) -> None:
    """Outputs equal in train mode (batch statistics), then BN running stats equal, then eval mode."""
    ours.train(), ref.train()
    _close(ours(*inputs), ref(*inputs))
    for (n1, b1), (_, b2) in zip(
        sorted((n, b) for n, b in ours.named_buffers() if "running" in n),
        sorted((n, b) for n, b in ref.named_buffers() if "running" in n),
    ):
        _close(b1, b2)
    ours.eval(), ref.eval()
    _close(ours(*inputs), ref(*inputs))


# ---------------------------------------------------------------------------------------------------- SE family
@pytest.mark.parametrize("channels,squeeze_channels", [(64, 16), (24, 8), (120, 30)])
def test_se_equals_torchvision_squeeze_excitation(channels, squeeze_channels):
    ref = tv_ops.SqueezeExcitation(channels, squeeze_channels)
    ours = sv.build_block("se", channels=channels, hidden=squeeze_channels)
    _randomize(ref)
    _copy(ours.excite.fc1.weight, ref.fc1.weight), _copy(ours.excite.fc1.bias, ref.fc1.bias)
    _copy(ours.excite.fc2.weight, ref.fc2.weight), _copy(ours.excite.fc2.bias, ref.fc2.bias)
    x = torch.randn(3, channels, 7, 9)
    _close(ours(x), ref(x))


@pytest.mark.parametrize("channels", [24, 64, 120, 200, 256])
def test_se_equals_timm_se_module(channels):
    ref = timm_layers.SEModule(channels)  # rd_ratio 1/16, divisor 8, round_limit 0
    ours = sv.build_block("se", channels=channels, divisor=8, round_limit=0.0)
    assert ours.excite.width == ref.fc1.out_channels
    _randomize(ref)
    for i in (1, 2):
        _copy(getattr(ours.excite, f"fc{i}").weight, getattr(ref, f"fc{i}").weight)
        _copy(getattr(ours.excite, f"fc{i}").bias, getattr(ref, f"fc{i}").bias)
    x = torch.randn(2, channels, 5, 6)
    _close(ours(x), ref(x))


@pytest.mark.parametrize("channels,reduction,floor,half_up", [(120, 16, 7, 8), (64, 16, 4, 4), (100, 16, 6, 6)])
def test_hidden_width_rules(channels, reduction, floor, half_up):
    """REFERENCE: paper floor C // r; timm divisor 1 rounds half up (C=120, r=16: 7 vs 8)."""
    assert sv.build_block("se", channels=channels, reduction=reduction).excite.width == floor
    assert sv.build_block("se", channels=channels, reduction=reduction, divisor=1).excite.width == half_up


def test_ese_equals_timm():
    ref = timm_layers.EffectiveSEModule(48)
    ours = sv.build_block("ese", channels=48)
    _randomize(ref)
    _copy(ours.excite.fc1.weight, ref.fc.weight), _copy(ours.excite.fc1.bias, ref.fc.bias)
    x = torch.randn(2, 48, 6, 6) * 3
    _close(ours(x), ref(x))


@pytest.mark.parametrize("channels", [8, 16, 64, 256, 512, 2048])
def test_eca_equals_timm(channels):
    ref = timm_layers.EcaModule(channels)
    ours = sv.build_block("eca", channels=channels)
    assert ours.excite.kernel_size == ref.conv.kernel_size[0]
    _randomize(ref)
    _copy(ours.excite.conv.weight, ref.conv.weight)
    x = torch.randn(2, channels, 4, 5)
    _close(ours(x), ref(x))


@pytest.mark.parametrize("channels,k", [(64, 3), (256, 5), (512, 5), (1024, 5), (2048, 7), (2, 1)])
def test_eca_adaptive_kernel_formula(channels, k):
    """ECA-Net Eq. 12: k = |log2(C)/γ + b/γ|_odd with γ=2, b=1 (no clamp in the paper)."""
    assert sv.build_block("eca", channels=channels).excite.kernel_size == k


# ---------------------------------------------------------------------------------------------------- CBAM
def test_cbam_timm_style_equals_timm():
    ref = timm_cbam.CbamModule(64)
    ours = sv.build_block("cbam", channels=64, style="timm")
    _randomize(ref)
    ch, sp = ours[0], ours[1]
    _copy(ch.excite.fc1.weight, ref.channel.fc1.weight), _copy(ch.excite.fc2.weight, ref.channel.fc2.weight)
    _copy(sp.excite.conv.weight, ref.spatial.conv.conv.weight)
    _copy_bn(sp.excite.norm, ref.spatial.conv.bn)
    assert sp.excite.norm.momentum == ref.spatial.conv.bn.momentum
    _both_modes(ours, ref, torch.randn(4, 64, 7, 9))


def _cbam_official_math(x, fc1, fc2, conv_w, bn):
    def mlp(v):
        return F.linear(F.relu(F.linear(v, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)

    att = mlp(x.mean((2, 3))) + mlp(x.amax((2, 3)))
    x = x * torch.sigmoid(att)[:, :, None, None]
    pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)  # official order [max, mean]
    s = F.conv2d(pooled, conv_w, padding=3)
    s = F.batch_norm(s, bn.running_mean.clone(), bn.running_var.clone(), bn.weight, bn.bias, True, 0.01, 1e-5)
    return x * torch.sigmoid(s)


def test_cbam_official_style_equals_official_math():
    ours = sv.build_block("cbam", channels=32)  # official: biases, C // r, [max, mean], BN momentum 0.01
    _randomize(ours)
    ch, sp = ours[0], ours[1]
    assert ch.excite.width == 2 and ch.excite.fc1.bias is not None and sp.excite.norm.momentum == 0.01
    x = torch.randn(3, 32, 8, 8)
    expected = _cbam_official_math(x, ch.excite.fc1, ch.excite.fc2, sp.excite.conv.weight, sp.excite.norm)
    _close(ours.train()(x), expected)


# ---------------------------------------------------------------------------------------------------- GC
def test_gc_timm_style_equals_timm_global_context():
    ref = timm_layers.GlobalContext(64)  # fuse_scale, rd_ratio 1/8 (divisor 1), LayerNorm2d eps 1e-6
    ours = sv.build_block("gc", channels=64)
    _randomize(ref)
    _copy(ours.squeeze.logit.weight, ref.conv_attn.weight), _copy(ours.squeeze.logit.bias, ref.conv_attn.bias)
    m = ref.mlp_scale
    for i in (1, 2):
        _copy(getattr(ours.excite, f"fc{i}").weight, getattr(m, f"fc{i}").weight)
        _copy(getattr(ours.excite, f"fc{i}").bias, getattr(m, f"fc{i}").bias)
    _copy(ours.excite.norm.weight, m.norm.weight), _copy(ours.excite.norm.bias, m.norm.bias)
    assert ours.excite.norm.eps == m.norm.eps
    x = torch.randn(2, 64, 7, 9)
    _close(ours(x), ref(x))


def test_gc_official_style_is_additive_gcnet():
    """GCNet: x + conv(ReLU(LN(conv(Σ softmax(Wk x) x)))), r = 16."""
    ours = sv.build_block("gc", channels=64, style="official")
    _randomize(ours)
    x = torch.randn(2, 64, 5, 6)
    n, c = x.shape[:2]
    w = torch.softmax(F.conv2d(x, ours.squeeze.logit.weight, ours.squeeze.logit.bias).reshape(n, -1), -1)
    ctx = (x.reshape(n, c, -1) * w[:, None]).sum(-1)
    e = ours.excite
    assert e.width == 4
    t = F.linear(ctx, e.fc1.weight, e.fc1.bias)
    t = F.layer_norm(t, (e.width,), e.norm.weight, e.norm.bias, 1e-5)
    t = F.linear(F.relu(t), e.fc2.weight, e.fc2.bias)
    _close(ours(x), x + t[:, :, None, None])


# ---------------------------------------------------------------------------------------------------- coord
def test_coord_equals_timm_coord_attn():
    ref = timm_coord.CoordAttn(64)  # no biases, rd = make_divisible(64/16 * 2/3, 8)
    ours = sv.build_block("coord", channels=64, bias=False, hidden=ref.conv1.out_channels)
    _randomize(ref)
    _copy(ours.conv1.weight, ref.conv1.weight)
    _copy(ours.convs["h"].weight, ref.conv_h.weight), _copy(ours.convs["w"].weight, ref.conv_w.weight)
    _copy_bn(ours.bn1, ref.bn1)
    _both_modes(ours, ref, torch.randn(3, 64, 6, 9))


def test_coord_official_defaults():
    """Official code: mip = max(8, C // 32), biases on the convs."""
    assert sv.build_block("coord", channels=64).conv1.out_channels == 8
    assert sv.build_block("coord", channels=512).conv1.out_channels == 16
    assert sv.build_block("coord", channels=64).conv1.bias is not None


# ---------------------------------------------------------------------------------------------------- SK
def _copy_sk(ours, ref):
    for p_ours, p_ref in zip(ours.paths, ref.paths):
        _copy(p_ours[0].weight, p_ref.conv.weight)
        _copy_bn(p_ours[1], p_ref.bn)
    e = ours.fusion.excite
    _copy(e.fc1.weight, ref.attn.fc_reduce.weight), _copy(e.fc2.weight, ref.attn.fc_select.weight)
    _copy_bn(e.norm, ref.attn.bn)


@pytest.mark.parametrize("split_input", [False, True])
def test_sk_equals_timm_selective_kernel(split_input):
    ref = timm_layers.SelectiveKernel(64, 64, split_input=split_input)  # [3, 5] → 3×3 dilations 1, 2
    ours = sv.build_block("sk", channels=64, divisor=8, round_limit=0.9, min_hidden=1, split_input=split_input)
    assert ours.fusion.excite.width == ref.attn.fc_reduce.out_channels
    _randomize(ref)
    _copy_sk(ours, ref)
    _both_modes(ours, ref, torch.randn(4, 64, 8, 8))


def test_fusion_attention_equals_timm_selective_kernel_attn():
    ref = timm_sk.SelectiveKernelAttn(32, num_paths=3, attn_channels=16)
    ours = sv.build_block(dict(name="fusion", inputs=3, gate="softmax",
                               excite=dict(name="fc", hidden=16, bias=False, norm="bn")), channels=32)
    _randomize(ref)
    e = ours.excite
    _copy(e.fc1.weight, ref.fc_reduce.weight), _copy(e.fc2.weight, ref.fc_select.weight), _copy_bn(e.norm, ref.bn)
    u = torch.randn(4, 3, 32, 5, 5)
    ours.train(), ref.train()
    _close(ours.attention(u), ref(u))
    ours.eval(), ref.eval()
    _close(ours.attention(u), ref(u))


def test_sk_paper_hidden_width():
    """SKNet: d = max(C / r, L) with L = 32."""
    assert sv.build_block("sk", channels=64).fusion.excite.width == 32
    assert sv.build_block("sk", channels=1024).fusion.excite.width == 64


# ---------------------------------------------------------------------------------------------------- multi-input
def test_multi_input_equals_its_definition():
    ours = sv.build_block("multi_input", channels=16, inputs=3)
    _randomize(ours)
    xs = [torch.randn(2, 16, 4, 5) for _ in range(3)]
    e = ours.excite
    assert e.width == 8  # r = 2
    z = F.linear(F.relu(F.linear(sum(xs).mean((2, 3)), e.fc1.weight, e.fc1.bias)), e.fc2.weight, e.fc2.bias)
    a = torch.sigmoid(z).reshape(2, 3, 16)
    expected = sum(a[:, k, :, None, None] * xs[k] for k in range(3))
    _close(ours(*xs), expected)
    _close(ours(xs), expected)
    _close(ours(torch.stack(xs, 1)), expected)


# ---------------------------------------------------------------------------------------------------- SRM, GE
def test_srm_equals_paper_math():
    ours = sv.build_block("srm", channels=32)
    assert torch.count_nonzero(ours.excite.weight) == 0  # CFC initialised to 0 (SRM)
    _randomize(ours)
    x = torch.randn(4, 32, 6, 7)
    flat = x.reshape(4, 32, -1)
    t = torch.stack([flat.mean(-1), (flat.var(-1, unbiased=True) + 1e-5).sqrt()], -1)  # style pooling
    z = (t * ours.excite.weight).sum(-1)  # channel-wise FC
    bn = ours.excite.norm
    z = F.batch_norm(z, bn.running_mean.clone(), bn.running_var.clone(), bn.weight, bn.bias, True, 0.1, 1e-5)
    _close(ours.train()(x), x * torch.sigmoid(z)[:, :, None, None])


@pytest.mark.parametrize("extent", [2, 4, 8])
def test_ge_local_extent_equals_paper_math(extent):
    ours = sv.build_block("ge", channels=16, extent=extent).eval()
    _randomize(ours)
    x = torch.randn(2, 16, 13, 10)
    y = x
    layers = list(ours.squeeze.gather)
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in layers if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == int(math.log2(extent))
    for i, (conv, bn) in enumerate(zip(convs, bns)):
        y = F.conv2d(y, conv.weight, stride=2, padding=1, groups=16)
        y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        if i < len(convs) - 1:
            y = F.relu(y)
    e = ours.excite
    y = F.conv2d(F.relu(F.conv2d(y, e.fc1.weight[:, :, None, None], e.fc1.bias)), e.fc2.weight[:, :, None, None],
                 e.fc2.bias)
    expected = x * torch.sigmoid(F.interpolate(y, size=(13, 10), mode="nearest"))
    _close(ours(x), expected)


# ---------------------------------------------------------------------------------------------------- FcaNet
def _dct_1d(pos, freq, length):
    v = math.cos(math.pi * freq * (pos + 0.5) / length) / math.sqrt(length)
    return v * math.sqrt(2) if freq else v


def test_fca_equals_paper_math():
    top16 = [(0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0),
             (5, 0), (1, 6), (3, 0), (0, 4), (0, 6), (0, 3), (3, 5), (2, 2)]  # FcaNet top-16 (u, v)
    c, size = 64, 14
    ours = sv.build_block("fca", channels=c, size=size)
    _randomize(ours)
    filt = torch.zeros(c, size, size)
    for i, (u, v) in enumerate(top16):
        for tx in range(size):
            for ty in range(size):
                filt[i * 4:(i + 1) * 4, tx, ty] = _dct_1d(tx, u * 2, size) * _dct_1d(ty, v * 2, size)
    x = torch.randn(2, c, size, size)
    e = ours.excite
    assert e.fc1.bias is None and e.width == 4
    y = (x * filt).sum((2, 3))
    z = torch.sigmoid(F.linear(F.relu(F.linear(y, e.fc1.weight)), e.fc2.weight))
    _close(ours(x), x * z[:, :, None, None])
    # other input sizes are adaptively pooled to the DCT size first (FcaNet)
    x2 = torch.randn(2, c, 28, 28)
    y2 = (F.adaptive_avg_pool2d(x2, size) * filt).sum((2, 3))
    z2 = torch.sigmoid(F.linear(F.relu(F.linear(y2, e.fc1.weight)), e.fc2.weight))
    _close(ours(x2), x2 * z2[:, :, None, None])


def test_dct_lowest_frequency_is_scaled_mean():
    """FcaNet Theorem: the (0, 0) DCT component is sqrt(H·W) × global average pooling."""
    sq = sv.SQUEEZE.build({"name": "dct", "freqs": "top1", "size": 7}, 16)
    x = torch.randn(2, 16, 7, 7)
    _close(sq(x).reshape(2, 16), x.mean((2, 3)) * 7)


# ---------------------------------------------------------------------------------------------------- triplet
def _zpool(t):
    return torch.cat([t.amax(1, keepdim=True), t.mean(1, keepdim=True)], 1)


def _gate(t, w, bn):
    s = F.conv2d(_zpool(t), w, padding=w.shape[-1] // 2)
    s = F.batch_norm(s, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return t * torch.sigmoid(s)


def test_triplet_equals_official_math():
    ours = sv.build_block("triplet", channels=16).eval()
    _randomize(ours)
    cw, hc, hw = (b.excite for b in ours.branches)
    assert cw.norm.momentum == 0.01
    x = torch.randn(2, 16, 6, 9)
    out1 = _gate(x.permute(0, 2, 1, 3), cw.conv.weight, cw.norm).permute(0, 2, 1, 3)  # rotate: pool over H
    # official convolves the H×C plane; ours the C×H plane, so its kernel is the transpose
    out2 = _gate(x.permute(0, 3, 2, 1), hc.conv.weight.transpose(-1, -2), hc.norm).permute(0, 3, 2, 1)
    out3 = _gate(x, hw.conv.weight, hw.norm)
    _close(ours(x), (out1 + out2 + out3) / 3)


# ---------------------------------------------------------------------------------------------------- SimAM
def test_simam_equals_paper_formula():
    x = torch.randn(2, 8, 5, 7)
    n = 5 * 7 - 1
    d = (x - x.mean((2, 3), keepdim=True)) ** 2
    e_inv = d / (4 * (d.sum((2, 3), keepdim=True) / n + 1e-4)) + 0.5
    _close(sv.build_block("simam", channels=8)(x), x * torch.sigmoid(e_inv))


# ---------------------------------------------------------------------------------------------------- in timm models
def test_seresnet50_parameter_count_matches_timm_and_senet_eq5():
    """timm ResNet-50: 25,557,032; seresnet50: 28,088,024 (SENet Eq. 5 with biases: +2,530,992)."""
    timm = pytest.importorskip("timm")
    base = sum(p.numel() for p in timm.create_model("resnet50").parameters())
    ours = timm.create_model("resnet50", block_args=dict(attn_layer=sv.as_timm_attn("se")))
    n_ours = sum(p.numel() for p in ours.parameters())
    stages, widths = (3, 4, 6, 3), (256, 512, 1024, 2048)
    eq5 = sum(2 / 16 * n * c * c for n, c in zip(stages, widths))
    biases = sum(n * (c // 16 + c) for n, c in zip(stages, widths))
    assert base == 25_557_032
    assert n_ours == 28_088_024 == base + eq5 + biases
    assert n_ours == sum(p.numel() for p in timm.create_model("seresnet50").parameters())


def test_eca_resnet50_adds_80_parameters():
    """ECA-Net: the module adds 80 parameters to ResNet-50 with the released kernel sizes 3, 5, 5, 7."""
    timm = pytest.importorskip("timm")
    released_k = {256: 3, 512: 5, 1024: 5, 2048: 7}

    def attn(channels, **kw):
        return sv.as_timm_attn("eca", kernel_size=released_k[channels])(channels, **kw)

    base = sum(p.numel() for p in timm.create_model("resnet50").parameters())
    eca = sum(p.numel() for p in timm.create_model("resnet50", block_args=dict(attn_layer=attn)).parameters())
    assert eca - base == 80


def test_timm_model_with_our_block_runs():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", num_classes=5, block_args=dict(attn_layer=sv.as_timm_attn("cbam")))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert isinstance(model.layer1[0].se, torch.nn.Sequential)
