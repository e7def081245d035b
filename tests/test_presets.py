"""Every preset (parametrized over PRESET.names(), so a new preset is covered with no edit): traces with
torch.fx and exports with torch.export, runs under CPU bf16 autocast, keeps channels_last and dtype, and survives
batch 1 / 1×1 maps / C < r in train mode."""

from __future__ import annotations

import pytest
import torch

import se_variants as sv

PRESETS = sv.PRESET.names()
C = 32


def _inputs(block, shape=(2, C, 7, 9), **kw):
    k = getattr(block, "inputs", 1)  # fusion blocks take K inputs
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(shape, generator=g, **kw) for _ in range(k))


@pytest.mark.parametrize("name", PRESETS)
def test_fx_symbolic_trace(name):
    block = sv.build_block(name, channels=C).eval()
    xs = _inputs(block)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(*xs), block(*xs))


@pytest.mark.parametrize("name", PRESETS)
def test_torch_export(name):
    block = sv.build_block(name, channels=C).eval()
    xs = _inputs(block)
    torch.testing.assert_close(torch.export.export(block, xs).module()(*xs), block(*xs))


@pytest.mark.parametrize("name", PRESETS)
def test_bf16_autocast(name):
    block = sv.build_block(name, channels=C).train()
    xs = _inputs(block)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = block(*xs)
    assert y.shape == xs[0].shape and torch.isfinite(y).all()


@pytest.mark.parametrize("name", PRESETS)
def test_keeps_channels_last(name):
    block = sv.build_block(name, channels=C).to(memory_format=torch.channels_last)
    xs = tuple(x.contiguous(memory_format=torch.channels_last) for x in _inputs(block))
    y = block(*xs)
    assert y.is_contiguous(memory_format=torch.channels_last), name
    torch.testing.assert_close(y, block(*(x.contiguous() for x in xs)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("name", PRESETS)
def test_keeps_dtype(name, dtype):
    block = sv.build_block(name, channels=C).to(dtype)
    y = block(*_inputs(block, dtype=dtype))
    assert y.dtype == dtype


@pytest.mark.parametrize("shape", [(1, C, 5, 5), (2, C, 1, 1), (1, C, 1, 1)], ids=str)
@pytest.mark.parametrize("name", PRESETS)
def test_small_inputs_in_train_mode(name, shape):
    block = sv.build_block(name, channels=C).train()
    xs = tuple(x.requires_grad_() for x in _inputs(block, shape))
    y = block(*xs)
    y.square().sum().backward()
    assert y.shape == shape and torch.isfinite(y).all()
    assert all(torch.isfinite(x.grad).all() for x in xs)


@pytest.mark.parametrize("name", PRESETS)
def test_fewer_channels_than_reduction(name):
    """C = 4 with r = 16 (or 32): the hidden width floors at 1 (or the preset's minimum), nothing breaks."""
    block = sv.build_block(name, channels=4).train()
    y = block(*_inputs(block, (2, 4, 6, 6)))
    assert torch.isfinite(y).all()


def test_keyword_arguments_override_preset_options():
    assert sv.build_block("se", channels=64, reduction=8).excite.width == 8
    assert sv.build_block("eca", channels=64, kernel_size=5).excite.kernel_size == 5
    assert sv.build_block({"name": "se", "reduction": 4}, channels=64).excite.width == 16


def test_float32_option_computes_gate_in_float32():
    block = sv.build_block(channels=16, float32=True)
    seen = []
    block.excite.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = block(torch.randn(2, 16, 4, 4))
    assert seen == [torch.float32] and y.dtype == torch.float32
    block_default = sv.build_block(channels=16)
    seen.clear()
    block_default.excite.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        block_default(torch.randn(2, 16, 4, 4))
    assert seen == [torch.bfloat16]
