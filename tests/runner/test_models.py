"""Models: the block goes where SENet's integration study puts it (standard, pre, post, identity), only in the
chosen stages; timm and torchvision models take it too; multi-input blocks are refused with advice."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from se_variants import PRESET, SEBlock, SpecError
from se_variants.runner.models import MODEL, PLACEMENTS
from se_variants.runner.models.cifar_resnet import BasicBlock
from se_variants.runner.models.placement import make_block

SE = {"squeeze": "avg", "excite": {"name": "fc", "reduction": 4}}


def _blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, SEBlock)]


def _capture(module: nn.Module, store: dict, key: str, output: bool = False):
    def hook(mod, inputs, out):
        store[key] = (out if output else inputs[0]).detach().clone()
    return module.register_forward_hook(hook)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_cifar_resnet_block_sits_where_senet_places_it(placement):
    torch.manual_seed(0)
    model = MODEL.build({"name": "cifar_resnet", "depth": 8, "placement": placement}, 1, 10, SE).eval()
    assert len(_blocks(model)) == 3  # one unit per stage at depth 8
    unit: BasicBlock = model.stages[1][0]  # the first unit of stage 2: stride 2, 16 → 32 channels
    block = _blocks(unit)[0]
    seen: dict = {}
    hooks = [_capture(block, seen, "block_in"), _capture(unit, seen, "unit_in"),
             _capture(unit.bn2, seen, "bn2_out", output=True), _capture(unit.shortcut, seen, "short_out", output=True)]
    out = model(torch.randn(2, 1, 8, 8))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 10)
    expected = {"standard": seen["bn2_out"], "pre": seen["unit_in"], "identity": seen["short_out"]}
    if placement == "post":  # after the sum with the identity and the ReLU
        with torch.no_grad():
            ref = torch.relu(unit.bn2(unit.conv2(torch.relu(unit.bn1(unit.conv1(seen["unit_in"]))))) + seen["short_out"])
        torch.testing.assert_close(seen["block_in"], ref)
    else:
        torch.testing.assert_close(seen["block_in"], expected[placement])
    assert block.channels == (16 if placement == "pre" else 32)


def test_cifar_resnet_stages_and_baseline():
    assert len(_blocks(MODEL.build({"name": "cifar_resnet", "depth": 20, "stages": [2, 3]}, 3, 10, SE))) == 6
    plain = MODEL.build({"name": "cifar_resnet", "depth": 20}, 3, 10, None)
    assert not _blocks(plain)
    # He et al. 2016 Table 6: ResNet-20 has 0.27M parameters (option A shortcuts: exactly 269,722)
    assert sum(p.numel() for p in plain.parameters()) == 269_722
    with pytest.raises(SpecError, match="6n \\+ 2"):
        MODEL.build({"name": "cifar_resnet", "depth": 21}, 3, 10, None)
    with pytest.raises(SpecError, match="stages"):
        MODEL.build({"name": "cifar_resnet", "stages": [4]}, 3, 10, SE)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_torchvision_resnet_takes_blocks(placement):
    model = MODEL.build({"name": "torchvision", "placement": placement, "small_input": True}, 1, 10, SE)
    assert len(_blocks(model)) == 8  # resnet18: 2 units in each of 4 stages
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 10)


def test_torchvision_bottleneck_and_stages():
    model = MODEL.build({"name": "torchvision", "arch": "resnet50", "stages": [4]}, 3, 10, SE)
    blocks = _blocks(model)
    assert len(blocks) == 3 and all(b.channels == 2048 for b in blocks)  # after bn3 of layer4's units


@pytest.mark.slow  # (imports timm: a second or more)
def test_timm_model_takes_the_block_as_attn_layer():
    model = MODEL.build({"name": "timm", "arch": "resnet18"}, 3, 10, {"squeeze": "max", "excite": "conv1d"})
    assert len(_blocks(model)) == 8
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    plain = MODEL.build({"name": "timm", "arch": "seresnet18"}, 3, 10, None)
    assert not any("SEModule" in type(m).__name__ for m in plain.modules())  # baseline: attention switched off
    with pytest.raises(SpecError, match="resnet18"):
        MODEL.build({"name": "timm", "arch": "resnt18"}, 3, 10, None)


def test_multi_input_blocks_are_refused_with_advice():
    with pytest.raises(SpecError, match="fusion block.*single-input"):
        make_block({"name": "fusion", "inputs": 2}, 16)


# --- 1-D and 3-D: the same ResNet with dims ----------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 3])
def test_resnet_dims_places_blocks_as_in_2d(dims):
    model = MODEL.build({"name": "cifar_resnet", "depth": 8, "dims": dims}, 1, 10, SE)
    blocks = _blocks(model)
    assert [b.channels for b in blocks] == [16, 32, 64] and all(b.dims == dims for b in blocks)
    assert isinstance(model.stages[1][0].conv1, (nn.Conv1d, nn.Conv3d)[dims == 3])
    plain = MODEL.build({"name": "cifar_resnet", "depth": 8, "dims": dims}, 1, 10, None)
    x = torch.randn((2, 1) + (8,) * dims)
    assert plain(x).shape == model(x).shape == (2, 10)
    assert model.stem[0].kernel_size == (3,) * dims
    # option-A shortcuts subsample every spatial axis and zero-pad the channels
    unit = model.stages[1][0]
    assert unit.shortcut(torch.randn((2, 16) + (8,) * dims)).shape == (2, 32) + (4,) * dims


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("name", PRESET.names())
def test_resnet_with_every_preset_trains_one_step(name, dims):
    """1-D on MNIST-1D-shaped sequences, 3-D on random volumes: forward, backward, one SGD step, finite."""
    spec = {"name": "cifar_resnet", "depth": 8, "dims": dims, "widths": [8, 16, 16]}
    try:
        model = MODEL.build(spec, 1, 4, name)
    except SpecError as err:  # multi-input blocks, and the presets with no 1-D version, say why
        assert "fusion" in str(err) or (dims == 1 and "1-D" in str(err)), err
        return
    x, y = torch.randn((3, 1) + ((40,) if dims == 1 else (6, 8, 8))), torch.tensor([0, 1, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model.train()(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert model.eval()(x).shape == (3, 4)
