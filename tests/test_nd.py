"""Every preset on 1-D (N, C, L) and 3-D (N, C, D, H, W) inputs: trains, traces and exports, or is refused
naming what works; wrong ranks name the block's dims; the axes table holds for every dims."""

from __future__ import annotations

import pytest
import torch

import se_variants as sv
from se_variants import PRESET, SpecError, build_block
from se_variants.descriptor import NAMED_AXES, SPATIAL_AXES, pooled_axes

C = 16
SHAPES = {1: (2, C, 13), 3: (2, C, 4, 5, 6)}

pytestmark = pytest.mark.usefixtures("single_thread")


def _build(name: str, dims: int):
    try:
        return build_block(name, channels=C, dims=dims)
    except SpecError as err:
        # the presets that have no 1-D version say so, and name what works there
        assert dims == 1 and name in ("fca", "coord") and "1-D" in str(err) and "se" in str(err)
        return None


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("name", PRESET.names())
def test_preset_trains_traces_and_exports(name, dims, make_inputs):
    block = _build(name, dims)
    if block is None:
        return
    xs = [x.requires_grad_() for x in make_inputs(block, SHAPES[dims])]
    y = block.train()(*xs)
    y.square().sum().backward()
    assert y.shape == xs[0].shape and torch.isfinite(y).all() and all(torch.isfinite(x.grad).all() for x in xs)
    block.eval()
    xs = [x.detach() for x in xs]
    with torch.no_grad():
        torch.testing.assert_close(torch.fx.symbolic_trace(block)(*xs), block(*xs))
        torch.testing.assert_close(torch.export.export(block, tuple(xs)).module()(*xs), block(*xs))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_wrong_rank_names_the_blocks_dims(dims):
    block = build_block("se", channels=C, dims=dims)
    other = 2 if dims != 2 else 3
    x = torch.randn((2, C) + (5,) * other)
    with pytest.raises(ValueError, match=rf"built for dims={dims}: .*build it with dims={other}"):
        block(x)


def test_every_named_axes_option_is_in_the_table_for_its_dims():
    for name, per_dims in NAMED_AXES.items():
        for dims in (1, 2, 3):
            if dims in per_dims:
                assert pooled_axes(name, dims) == per_dims[dims]
            else:
                with pytest.raises(SpecError, match=rf"axes '{name}' is defined for .* not for {dims}-D"):
                    pooled_axes(name, dims)
    assert pooled_axes("spatial", 3) == SPATIAL_AXES[3] and pooled_axes(["h", "d"], 3) == ("d", "h")
    with pytest.raises(SpecError, match="at most once, at least one and not all"):
        pooled_axes(["c", "l"], 1)


@pytest.mark.parametrize(("axes", "dims", "shape", "scale"), [
    ("spatial", 1, (2, C, 9), (2, C, 1)),
    ("c", 1, (2, C, 9), (2, 1, 9)),
    ("d", 3, (2, C, 3, 4, 5), (2, C, 3, 1, 1)),  # per-frame channel attention
    ("h", 3, (2, C, 3, 4, 5), (2, C, 1, 4, 1)),
    (["d"], 3, (2, C, 3, 4, 5), (2, C, 1, 4, 5)),  # pool D only
    (["c", "d"], 3, (2, C, 3, 4, 5), (2, 1, 1, 4, 5)),
])
def test_scale_shapes_in_1d_and_3d(axes, dims, shape, scale):
    block = build_block(channels=C, dims=dims, squeeze={"name": "avg", "axes": axes}, excite="identity")
    assert tuple(block.scale(torch.randn(shape)).shape) == scale


def test_3d_names_keep_their_2d_meaning():
    """``h`` keeps H (and C) in 2-D and 3-D alike; ``d`` keeps the depth / time axis."""
    assert sv.SQUEEZE.build("h", C, dims=2).descriptor.keeps == ("c", "h")
    assert sv.SQUEEZE.build("h", C, dims=3).descriptor.keeps == ("c", "h")
    assert sv.SQUEEZE.build("d", C, dims=3).descriptor.keeps == ("c", "d")


def test_channels_last_3d_is_kept():
    block = build_block("cbam", channels=C, dims=3)
    x = torch.randn(2, C, 4, 5, 6).contiguous(memory_format=torch.channels_last_3d)
    assert block(x).is_contiguous(memory_format=torch.channels_last_3d)


def test_timm_attn_and_models_take_dims_through_build_block():
    from se_variants.runner.models import MODEL

    for dims, shape in ((1, (2, 1, 40)), (3, (2, 1, 8, 8, 8))):
        model = MODEL.build({"name": "cifar_resnet", "depth": 8, "dims": dims}, 1, 10, "cbam")
        assert model(torch.randn(shape)).shape == (2, 10)
        assert all(b.dims == dims for b in model.modules() if isinstance(b, sv.SEBlock))
