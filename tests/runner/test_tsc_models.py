"""fcn and resnet_tsc: shapes and parameter counts of the published architectures, Keras' 'same' padding and
BatchNorm defaults, the glorot initialisation, where the blocks go, parity with tsai's FCN (weights copied across,
train and eval mode), and masks: a NaN-padded batch gives each series' own outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from se_variants import build_block
from se_variants.runner.models import MODEL
from se_variants.runner.models.tsc_layers import ConvBN, MaskedBatchNorm1d, keras_same

#: float32 comparisons of two implementations of the same computation
TOL = dict(atol=1e-5, rtol=1e-5)


def _randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm parameters and running statistics (a fresh BN is the identity in eval mode)."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g))
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _keras_fcn_params(c: int, k: int) -> int:
    """Trainable parameters of Fawaz et al.'s Keras FCN (classifiers/fcn.py): conv kernels and biases, BN gamma and
    beta, the dense layer."""
    convs = [(c, 128, 8), (128, 256, 5), (256, 128, 3)]
    return sum(i * o * kk + o + 2 * o for i, o, kk in convs) + 128 * k + k


def _keras_resnet_params(c: int, k: int) -> int:
    """The same for their ResNet (classifiers/resnet.py): three units of three convs, 1×1-conv + BN shortcuts where
    the width changes, a BN shortcut where it does not."""
    total, prev = 0, c
    for width in (64, 128, 128):
        chans = (prev, width, width, width)
        total += sum(chans[i] * chans[i + 1] * kk + 3 * chans[i + 1] for i, kk in enumerate((8, 5, 3)))
        total += (prev * width + width + 2 * width) if prev != width else 2 * width
        prev = width
    return total + 128 * k + k


@pytest.mark.parametrize("name,count", [("fcn", _keras_fcn_params), ("resnet_tsc", _keras_resnet_params)])
@pytest.mark.parametrize("c,k,length", [(1, 2, 24), (12, 9, 29), (3, 5, 1)])
def test_shapes_and_the_published_parameter_counts(name, count, c, k, length):
    model = MODEL.build({"name": name}, c, k, None)
    assert model(torch.randn(4, c, length)).shape == (4, k)
    assert sum(p.numel() for p in model.parameters()) == count(c, k)


def test_keras_same_padding_puts_the_extra_zero_on_the_right():
    """Keras pads k − 1 zeros, (k − 1) // 2 on the left: for k = 8, 3 left and 4 right. Checked on the conv of a
    ConvBN against numpy's correlation of the explicitly padded signal, and on an impulse: output t sees inputs
    t − 3 … t + 4."""
    assert [keras_same(k) for k in (8, 5, 3, 1, 2)] == [(3, 4), (2, 2), (1, 1), (0, 0), (0, 1)]
    for k in (8, 5, 3):
        layer = ConvBN(1, 1, k)
        x = torch.randn(1, 1, 20)
        with torch.no_grad():
            y = layer.conv(x if layer.pad is None else F.pad(x, layer.pad))[0, 0].numpy()
        left, right = keras_same(k)
        w, b = layer.conv.weight[0, 0].detach().numpy(), float(layer.conv.bias.detach())
        ref = np.correlate(np.pad(x[0, 0].numpy(), (left, right)), w, mode="valid") + b
        np.testing.assert_allclose(y, ref, atol=1e-5)
    layer = ConvBN(1, 1, 8)
    with torch.no_grad():
        layer.conv.weight.fill_(1.0)
        layer.conv.bias.zero_()
        impulse = torch.zeros(1, 1, 20)
        impulse[0, 0, 10] = 1.0
        seen = layer.conv(F.pad(impulse, layer.pad))[0, 0].nonzero().flatten().tolist()
    assert seen == list(range(10 - 4, 10 + 3 + 1))  # output t covers t-3..t+4, so the impulse at 10 reaches 6..13


def test_batchnorm_has_keras_defaults_and_init_is_glorot():
    model = MODEL.build({"name": "fcn"}, 1, 2, {"name": "se", "bias": False})
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) == 3 and all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)
    for conv in model.convs:
        w = conv.conv.weight.detach()
        fan_in, fan_out = w.shape[1] * w.shape[2], w.shape[0] * w.shape[2]
        limit = (6 / (fan_in + fan_out)) ** 0.5
        assert float(w.abs().max()) <= limit and float(w.std()) == pytest.approx(limit / 3 ** 0.5, rel=0.1)
        assert not conv.conv.bias.any()
    torch.manual_seed(0)
    keras = MODEL.build({"name": "fcn", "init": "keras"}, 1, 2, "se")
    torch.manual_seed(0)
    plain = MODEL.build({"name": "fcn", "init": "torch"}, 1, 2, "se")
    assert plain.convs[0].conv.bias.any() and not keras.convs[0].conv.bias.any()
    for a, b in zip(keras.blocks.parameters(), plain.blocks.parameters()):  # blocks keep their own init
        assert torch.equal(a, b)


def test_blocks_go_after_the_conv_blocks_of_stages():
    """MLSTM-FCN: SE (reduction 16, no bias) after conv blocks 1 and 2, on their 128 and 256 channels: SENet's
    Eq. 5 gives (2 / r) · (128² + 256²) = 10,240 added weights."""
    model = MODEL.build({"name": "fcn", "stages": [1, 2]}, 1, 2, {"name": "se", "bias": False})
    assert model.has_block == [True, True, False]
    assert sum(p.numel() for p in model.blocks.parameters()) == 2 * (128**2 + 256**2) // 16
    x = torch.randn(3, 1, 24)
    model.eval()
    with torch.no_grad():
        h = x
        for conv, block, has in zip(model.convs, model.blocks, model.has_block):
            h = F.relu(conv(h))
            h = block(h) if has else h
        assert torch.allclose(model(x), model.fc(h.mean(2)), **TOL)
    assert MODEL.build({"name": "fcn"}, 1, 2, None).has_block == [False, False, False]


@pytest.mark.slow  # importing tsai (fastai) takes seconds
def test_parity_with_tsai_fcn_in_train_and_eval_mode():
    """tsai's FCN (built by its own constructor, kernels 8/5/3, its BatchNorm set to Keras' eps and momentum)
    against ours with its weights copied across: tsai's convs have no bias (BN follows), so ours are set to 0.
    Equal logits in eval and train mode, equal running statistics after a train-mode pass (atol = rtol = 1e-5,
    float32)."""
    tsai_fcn = pytest.importorskip("tsai.models.FCN", reason="the parity reference is tsai's FCN")
    torch.manual_seed(0)
    theirs = tsai_fcn.FCN(3, 4, layers=[128, 256, 128], kss=[8, 5, 3])
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eps, m.momentum = 1e-3, 0.01
    _randomise_bn(theirs)
    ours = MODEL.build({"name": "fcn"}, 3, 4, None)
    their_convs = [m for m in theirs.modules() if isinstance(m, torch.nn.Conv1d)]
    their_bns = [m for m in theirs.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for block, conv, bn in zip(ours.convs, their_convs, their_bns):
            block.conv.weight.copy_(conv.weight)
            block.conv.bias.zero_()
            block.bn.load_state_dict(bn.state_dict())
        ours.fc.load_state_dict(theirs.fc.state_dict())
    x = torch.randn(5, 3, 37)
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), **TOL)
    for a, b in zip([c.bn for c in ours.convs], their_bns):
        torch.testing.assert_close(a.running_mean, b.running_mean, **TOL)
        torch.testing.assert_close(a.running_var, b.running_var, **TOL)


def test_masked_batchnorm_uses_the_valid_positions_only():
    """Train mode with a mask equals torch's BatchNorm on the valid positions alone (their columns side by side),
    running statistics included; without a mask it is torch's BatchNorm."""
    torch.manual_seed(0)
    ours = MaskedBatchNorm1d(6, eps=1e-3, momentum=0.1)
    ref = torch.nn.BatchNorm1d(6, eps=1e-3, momentum=0.1)
    _randomise_bn(ours)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 6, 10)
    lengths = torch.tensor([10, 4, 7])
    mask = torch.arange(10)[None] < lengths[:, None]
    x = torch.where(mask[:, None], x, float("nan"))
    y = ours(x, mask)
    valid = torch.cat([x[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)[None]  # (1, 6, 21)
    y_ref = ref(valid)
    torch.testing.assert_close(torch.cat([y[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)[None],
                               y_ref, **TOL)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    z = torch.randn(2, 6, 5)
    torch.testing.assert_close(ours(z), ref(z), **TOL)


@pytest.mark.parametrize("name", ["fcn", "resnet_tsc"])
@pytest.mark.parametrize("block", [None, "se", "eca"])
def test_a_padded_batch_gives_each_series_its_own_outputs(name, block):
    """Eval mode: a batch of series of lengths 29, 11 and 7 padded with NaN gives the logits of each series alone;
    train mode: more padding changes nothing (the mask reaches the convolutions, BatchNorm, the blocks and the
    pooling)."""
    torch.manual_seed(0)
    model = MODEL.build({"name": name, "padded": True, **({"stages": [1, 2]} if name == "fcn" else {})}, 12, 9,
                        block)
    _randomise_bn(model)
    lengths = [29, 11, 7]
    series = [torch.randn(12, n) for n in lengths]
    padded = torch.full((3, 12, 29), float("nan"))
    for i, s in enumerate(series):
        padded[i, :, :s.shape[1]] = s
    model.eval()
    with torch.no_grad():
        batch = model(padded)
        alone = torch.cat([model(s[None]) for s in series])
    torch.testing.assert_close(batch, alone, **TOL)
    model.train()
    more = torch.cat([padded, torch.full((3, 12, 9), float("nan"))], dim=2)
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(more), **TOL)
    assert torch.isfinite(batch).all()


def test_a_block_that_cannot_take_a_mask_is_refused_for_padded_data():
    """data.variable_length=pad with a block whose squeeze mixes padded and valid positions: the planner's model
    check names the block's reason; a model without masks (resnet1d) is refused too."""
    from se_variants.runner.configs import compose
    from se_variants.runner.validate import ConfigError, check_config, check_model

    pad = ["data=ucr", "data.name=JapaneseVowels", "data.variable_length=pad"]
    with pytest.raises(ConfigError, match="cannot honour a mask"):
        check_model(check_config(compose([*pad, "model=fcn", "block=parts", "squeeze=conv"])))
    with pytest.raises(ConfigError, match="does not take NaN-padded series"):
        check_model(check_config(compose([*pad, "model=resnet1d", "block=none"])))
    check_model(check_config(compose([*pad, "model=fcn", "block=se"])))
    assert build_block("se", channels=8, dims=1).mask_refusal is None


def test_the_model_looks_for_padding_only_when_its_data_has_some():
    """The job's model node says ``padded`` when the data are NaN-padded series, and only then: a model built for
    equal-length data does not look for NaN (one would reach its logits), and turning it off for padded data is
    refused by the planner's model check."""
    from se_variants.runner.configs import compose
    from se_variants.runner.validate import ConfigError, check_config, check_model, model_node

    pad = ["data=ucr", "data.name=JapaneseVowels", "data.variable_length=pad", "model=fcn"]
    assert model_node(compose(pad))["padded"] is True
    assert "padded" not in model_node(compose(["data=ucr", "data.name=ItalyPowerDemand", "model=fcn"]))
    assert "padded" not in model_node(compose([*pad[:3], "model=resnet1d"]))  # (no such option: refused elsewhere)
    x = torch.randn(2, 12, 29)
    x[1, :, 20:] = float("nan")
    for name in ("fcn", "resnet_tsc"):
        logits = MODEL.build({"name": name}, 12, 3, None).eval()(x)
        assert torch.isfinite(logits[0]).all() and not torch.isfinite(logits[1]).any()
    with pytest.raises(ConfigError, match="does not take NaN-padded series"):
        check_model(check_config(compose([*pad, "+model.padded=false"])))
