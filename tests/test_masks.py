"""Masked squeezes for padded batches: for every op that honours a mask, each sample of a padded batch gives what
the same sample gives unpadded (statistics over valid positions only; padded positions are scaled, not zeroed);
every other block refuses a mask naming why.

Tolerance: float32, atol = rtol = 1e-5 (the sums run over different lengths, so not bitwise). Eval mode:
train-mode BatchNorm couples the samples of a batch whatever the mask. The padding holds garbage, NaN, +inf or
-inf (torch.empty padding, -inf log-features): none of it may reach the valid outputs or their gradients.
"""

from __future__ import annotations

import pytest
import torch

from se_variants import EXCITE, PRESET, SQUEEZE, SpecError, build_block, lengths_to_mask

C = 6
TOL = dict(atol=1e-5, rtol=1e-5)
#: per dims: the padded size and each sample's valid size (padding along every spatial axis)
SIZES = {1: ((11,), [(11,), (7,), (3,)]), 2: ((6, 7), [(6, 7), (4, 7), (6, 3)]),
         3: ((3, 4, 5), [(3, 4, 5), (2, 4, 3), (3, 2, 5)])}

pytestmark = pytest.mark.usefixtures("single_thread")


def _try(spec, dims):
    try:
        return build_block(spec, channels=C, dims=dims)
    except SpecError:
        return None


def masked_cases():
    """(id, spec, dims) of every squeeze × excite block that honours a mask, and every such preset."""
    for dims in (1, 2, 3):
        for s in SQUEEZE.names():
            for e in EXCITE.names():
                block = _try({"squeeze": s, "excite": e}, dims)
                if block is not None and block.mask_refusal is None:
                    yield f"{s}/{e}/{dims}d", {"squeeze": s, "excite": e}, dims
        for name in PRESET.names():
            block = _try(name, dims)
            if block is not None and getattr(block, "mask_refusal", "") is None:
                yield f"{name}/{dims}d", name, dims


CASES = list(masked_cases())


#: what the padding holds: garbage (not zeros, not the data's scale) or one non-finite value everywhere
FILLS = {"garbage": None, "nan": float("nan"), "+inf": float("inf"), "-inf": float("-inf")}


def padded_batch(dims: int, seed: int = 0, fill: float | None = None
                 ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """The samples (1, C, *valid size), their padded batch (N, C, *padded size) with garbage (``fill`` None) or
    ``fill`` in the padding, and its mask."""
    g = torch.Generator().manual_seed(seed)
    full, valid = SIZES[dims]
    samples = [torch.randn((1, C, *v), generator=g) for v in valid]
    batch = torch.randn((len(valid), C, *full), generator=g) * 5 + 3  # padding: not zeros, not the data's scale
    mask = torch.zeros((len(valid), *full), dtype=torch.bool)
    for i, (x, v) in enumerate(zip(samples, valid)):
        region = (i, slice(None), *(slice(0, n) for n in v))
        batch[region] = x[0]
        mask[(i, *(slice(0, n) for n in v))] = True
    if fill is not None:
        batch = batch.masked_fill(~mask[:, None], fill)
    return samples, batch, mask


@pytest.mark.parametrize("fill", list(FILLS))
@pytest.mark.parametrize(("spec", "dims"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_padded_samples_equal_unpadded(spec, dims, fill):
    torch.manual_seed(0)
    block = build_block(spec, channels=C, dims=dims).eval()
    samples, batch, mask = padded_batch(dims, fill=FILLS[fill])
    batch.requires_grad_(True)
    out = block(batch, mask=mask)
    valid = mask[:, None].expand_as(batch)
    with torch.no_grad():
        for i, x in enumerate(samples):
            region = (i, slice(None), *(slice(0, n) for n in x.shape[2:]))
            torch.testing.assert_close(out[region], block(x)[0], **TOL)
        if fill == "garbage":
            assert torch.isfinite(out).all()
        assert (out[~valid] != 0).all()  # padded positions are scaled, not zeroed
    # the padding reaches neither the valid outputs nor the gradients of the valid inputs and the weights
    out[valid].sum().backward()
    assert torch.isfinite(batch.grad[valid]).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)


def test_every_mask_capable_squeeze_is_covered():
    covered = {c[1]["squeeze"] for c in CASES if isinstance(c[1], dict)}
    capable = {s for s in SQUEEZE.names() if SQUEEZE.get(s).mask_refusal is None}
    assert capable <= covered and {"avg", "max", "std", "meanstd", "attn", "cluster", "c", "proj"} <= capable
    presets = {c[1] for c in CASES if isinstance(c[1], str)}
    assert {"se", "ese", "eca", "srm", "gc", "simam", "scse", "ecapa_se", "x3d_se"} <= presets


def refusing_blocks():
    for name in PRESET.names():
        block = _try(name, 2)
        if block is not None and getattr(block, "inputs", 1) == 1 and block.mask_refusal is not None:
            yield name, block
    for spec in ({"squeeze": "conv"}, {"squeeze": "linear"}, {"squeeze": "dct"}, {"squeeze": "c", "excite": "conv1d"},
                 {"squeeze": "h", "excite": "conv1d"}, {"squeeze": "c", "excite": "fc"}):
        yield str(spec), build_block(spec, channels=C)


@pytest.mark.parametrize(("name", "block"), list(refusing_blocks()), ids=lambda v: v if isinstance(v, str) else "")
def test_blocks_that_cannot_honour_a_mask_refuse_it(name, block, make_inputs):
    with pytest.raises(ValueError, match=r"cannot honour a mask: .+\. Masks work with blocks whose squeeze pools"):
        block(torch.randn(2, C, 6, 7), mask=torch.ones(2, 6, 7, dtype=torch.bool))


def test_fusion_weights_honour_a_mask():
    """A fusion block's forward takes K inputs and no mask; its branch weights take one."""
    block = build_block("multi_input", channels=C, dims=1).eval()
    samples, batch, mask = padded_batch(1)
    with torch.no_grad():
        for i, x in enumerate(samples):
            torch.testing.assert_close(block.weights(batch, mask)[i], block.weights(x)[0], **TOL)
    assert "no mask" in block.mask_refusal


@pytest.mark.parametrize("mask", [torch.ones(2, 6, 7), torch.ones(2, 1, 6, 7, dtype=torch.bool),
                                  torch.ones(2, 7, 6, dtype=torch.bool)], ids=["float", "extra axis", "transposed"])
def test_bad_masks_say_what_is_expected(mask):
    block = build_block("se", channels=C)
    with pytest.raises(ValueError, match=r"mask must be a bool tensor \(N, \*spatial\) = \(2, 6, 7\)"):
        block(torch.randn(2, C, 6, 7), mask=mask)


def test_lengths_to_mask_absolute_and_relative_as_speechbrain():
    assert lengths_to_mask(torch.tensor([3, 1]), 4).tolist() == [[True] * 3 + [False], [True] + [False] * 3]
    # speechbrain: valid = arange(T) < lengths · T for relative lengths in (0, 1]
    rel = torch.tensor([1.0, 0.5, 0.3])
    assert torch.equal(lengths_to_mask(rel, 10), torch.arange(10)[None] < rel[:, None] * 10)
    with pytest.raises(ValueError, match="1-D tensor"):
        lengths_to_mask(torch.ones(2, 2), 4)


def test_masked_max_of_a_sample_without_valid_positions_is_zero_not_inf():
    block = build_block(channels=C, dims=1, squeeze="max", excite="identity")
    x = torch.randn(2, C, 5)
    mask = torch.tensor([[True] * 5, [False] * 5])
    s = block.scale(x, mask)
    assert torch.isfinite(s).all() and torch.equal(s[1], torch.full_like(s[1], 0.5))  # sigmoid(0)
