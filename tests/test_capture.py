"""``capture_scales``: the recorded gate outputs equal the scales computed directly, for every kind of block
(channel, spatial, directional, SimAM, fusion branch weights, a gate applied twice, unbounded gates), in the
runner's models and in timm models; hooks are removed afterwards; models without blocks are refused."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

import se_variants as sv
from se_variants import PRESET, attention_blocks, capture_scales

pytestmark = pytest.mark.usefixtures("single_thread")


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("spec, shape", [
    (dict(squeeze="avg", excite="fc"), (16, 1, 1)),
    (dict(squeeze="c", excite="conv1d"), (1, 7, 9)),  # spatial map
    (dict(squeeze="h", excite="fc"), (16, 7, 1)),  # directional: keeps H
    (dict(squeeze="w", excite="conv1d"), (16, 1, 9)),  # keeps W
    (dict(squeeze="wc", excite="fc"), (1, 7, 1)),
    (dict(squeeze="avg", excite="fc", gate="relu"), (16, 1, 1)),  # unbounded
    (dict(squeeze="avg", excite="fc", gate="identity", fuse="add"), (16, 1, 1)),  # GC's additive term
])
def test_se_block_scale_is_its_gate_output(spec, shape):
    torch.manual_seed(0)
    block = sv.build_block(channels=16, **spec).eval()
    x = torch.randn(3, 16, 7, 9)
    with capture_scales(block) as scales:
        y = block(x)
    assert list(scales) == ["SEBlock"]  # a gate at the top of the model: named by the model's class
    s = scales["SEBlock"]
    assert tuple(s.shape) == (3, *shape)
    torch.testing.assert_close(s, block.scale(x), rtol=0, atol=0)
    torch.testing.assert_close(y, x + s if spec.get("fuse") == "add" else x * s)
    assert _hooks(block) == 0


def test_unbounded_gates_are_recorded_as_they_are():
    block = sv.build_block(channels=8, squeeze="avg", excite="identity", gate="identity", fuse="add")
    x = torch.randn(4, 8, 3, 3) * 5
    with capture_scales(block) as scales:
        block(x)
    s = scales["SEBlock"]
    torch.testing.assert_close(s, x.mean((2, 3), keepdim=True))  # the raw means: negative and above 1
    assert s.min() < 0 < 1 < s.max()


def test_local_extent_scale_is_recorded_before_the_resize():
    block = sv.build_block("ge", channels=8, extent=2).eval()
    x = torch.randn(2, 8, 8, 8)
    with capture_scales(block) as scales:
        block(x)
    assert tuple(scales["SEBlock"].shape) == (2, 8, 4, 4)
    torch.testing.assert_close(F.interpolate(scales["SEBlock"], size=(8, 8), mode="nearest"), block.scale(x))


def test_compositions_one_entry_per_gate_owner():
    torch.manual_seed(0)
    cbam = sv.build_block("cbam", channels=16).eval()
    x = torch.randn(2, 16, 5, 6)
    with capture_scales(cbam) as scales:
        cbam(x)
    assert list(scales) == ["0", "1"] == list(attention_blocks(cbam))  # channel, then spatial
    assert tuple(scales["0"].shape) == (2, 16, 1, 1) and tuple(scales["1"].shape) == (2, 1, 5, 6)
    torch.testing.assert_close(scales["0"], cbam[0].scale(x))
    torch.testing.assert_close(scales["1"], cbam[1].scale(cbam[0](x)))
    triplet = sv.build_block("triplet", channels=16).eval()
    with capture_scales(triplet) as scales:
        triplet(x)
    assert {k: tuple(v.shape) for k, v in scales.items()} == {
        "branches.0": (2, 16, 1, 6), "branches.1": (2, 16, 5, 1), "branches.2": (2, 1, 5, 6)}


def test_a_gate_called_twice_gets_call_indices():
    torch.manual_seed(0)
    coord = sv.build_block("coord", channels=16).eval()
    x = torch.randn(2, 16, 5, 6)
    with capture_scales(coord) as scales:
        y = coord(x)
    assert list(scales) == ["CoordinateAttention[0]", "CoordinateAttention[1]"]
    a_h, a_w = scales["CoordinateAttention[0]"], scales["CoordinateAttention[1]"]
    assert tuple(a_h.shape) == (2, 16, 5, 1) and tuple(a_w.shape) == (2, 16, 1, 6)
    torch.testing.assert_close(y, x * a_w * a_h)
    assert sv.capture.base_name("x.attn[1]") == "x.attn" and sv.capture.base_name("x.attn") == "x.attn"


def test_simam_scale_and_fusion_branch_weights():
    x = torch.randn(2, 8, 4, 5)
    simam = sv.build_block("simam", channels=8)
    with capture_scales(simam) as scales:
        y = simam(x)
    torch.testing.assert_close(y, x * scales["SimAM"])
    assert tuple(scales["SimAM"].shape) == (2, 8, 4, 5)

    torch.manual_seed(0)
    sk = sv.build_block("sk", channels=8).eval()
    with capture_scales(sk) as scales:
        sk(x)
    w = scales["fusion"]
    assert tuple(w.shape) == (2, 2, 8, 1, 1)  # (N, K, C, 1, 1): the branch weights
    torch.testing.assert_close(w.sum(1), torch.ones(2, 8, 1, 1))  # softmax across the K branches
    fusion = sv.build_block("multi_input", channels=8)
    u = [torch.randn(2, 8, 4, 5), torch.randn(2, 8, 4, 5)]
    with capture_scales(fusion) as scales:
        fusion(*u)
    torch.testing.assert_close(scales["Fusion"], fusion.weights(u[0] + u[1]))


@pytest.mark.parametrize("name", PRESET.names())
def test_every_preset_records_batch_first_scales(name, make_inputs):
    block = sv.build_block(name, channels=16).eval()
    inputs = make_inputs(block, (3, 16, 6, 6))
    with torch.no_grad(), capture_scales(block) as scales:
        block(*inputs)
    assert scales and all(s.shape[0] == 3 for s in scales.values())
    assert {sv.capture.base_name(k) for k in scales} == set(attention_blocks(block))


def test_runner_model_names_blocks_and_keeps_the_latest_forward():
    from se_variants.runner.models import MODEL

    model = MODEL.build({"name": "cifar_resnet", "depth": 8}, 1, 10, "se").eval()
    names = ["stages.0.0.attn", "stages.1.0.attn", "stages.2.0.attn"]
    assert list(attention_blocks(model)) == names
    with torch.no_grad(), capture_scales(model) as scales:
        model(torch.randn(5, 1, 8, 8))
        x = torch.randn(2, 1, 8, 8)
        model(x)
    assert list(scales) == names and [tuple(s.shape) for s in scales.values()] == [(2, 16, 1, 1), (2, 32, 1, 1),
                                                                                    (2, 64, 1, 1)]
    seen = {}
    handle = model.stages[2][0].attn.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0]))
    with torch.no_grad(), capture_scales(model, blocks=["stages.2.0.attn"]) as only:
        model(x)
    handle.remove()
    assert list(only) == ["stages.2.0.attn"]
    torch.testing.assert_close(only["stages.2.0.attn"], model.stages[2][0].attn.scale(seen["x"]))
    assert _hooks(model) == 0


def test_timm_model_with_as_timm_attn():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False, num_classes=3,
                              block_args=dict(attn_layer=sv.as_timm_attn("eca"))).eval()
    with torch.no_grad(), capture_scales(model) as scales:
        model(torch.randn(1, 3, 32, 32))
    assert len(scales) == 8 and "layer4.1.se" in scales
    assert tuple(scales["layer4.1.se"].shape) == (1, 512, 1, 1)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="no attention block"):
        with capture_scales(torch.nn.Conv2d(3, 3, 1)):
            pass
    model = torch.nn.Sequential(OrderedDict(conv=torch.nn.Conv2d(16, 16, 1), attn=sv.build_block("se", channels=16)))
    with pytest.raises(ValueError, match="Did you mean 'attn'"):
        with capture_scales(model, blocks=["atn"]):
            pass
    with pytest.raises(RuntimeError, match="boom"):
        with capture_scales(model):
            raise RuntimeError("boom")
    assert _hooks(model) == 0
