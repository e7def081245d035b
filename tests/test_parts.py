"""Every registered squeeze × excite × gate, on 1-D, 2-D and 3-D inputs: builds and trains, or is refused with a
reason that names what works; descriptor and scale shapes follow the axes table.

The parameters are read from the registries when the tests are collected, so a newly registered op is tested
with no edit here. Building and training every triple is done once per session by the compatibility matrix
(``matrix_results`` in conftest.py); this file checks its results instead of building them again.
"""

from __future__ import annotations

import re

import pytest
import torch

from se_variants import EXCITE, GATE, SQUEEZE, SpecError, build_block
from se_variants.descriptor import NAMED_AXES, SPATIAL_AXES, scale_shape

C = 16
DIMS = (1, 2, 3)
SHAPES = {1: [(2, C, 11), (1, C, 1)], 2: [(2, C, 7, 9), (2, C, 1, 1), (1, C, 5, 5)], 3: [(2, C, 3, 5, 4)]}
PAIRS = [(s, e) for s in SQUEEZE.names() for e in EXCITE.names()]
KINDS = {"squeeze": SQUEEZE, "excite": EXCITE, "gate": GATE}

pytestmark = pytest.mark.usefixtures("single_thread")


def build(parts: dict[str, str], dims: int = 2):
    return build_block(channels=C, dims=dims, **parts)


def alternatives_named(message: str, parts: dict[str, str], dims: int) -> list[dict[str, str]]:
    """The part substitutions the message names (a registered name of some kind, different from the one used)
    that get past this refusal: they build, or are refused for another reason (a triple with two problems)."""
    working = []
    for kind, registry in KINDS.items():
        for name in registry.names():
            if name == parts[kind] or not re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", message):
                continue
            candidate = {**parts, kind: name}
            try:
                build(candidate, dims)
            except SpecError as err:
                if str(err).split(":")[0] == message.split(":")[0]:
                    continue
            working.append(candidate)
    return working


@pytest.mark.slow  # the matrix trains every squeeze × excite × gate × dims (about 2,100 blocks) one step
@pytest.mark.parametrize("dims", DIMS)
def test_every_triple_trains_or_is_refused_naming_what_works(matrix_results, dims):
    """The matrix trained every triple one step on SHAPES (output of x's shape, finite values and gradients)."""
    problems = []
    for (squeeze, excite, gate, d), result in matrix_results["se"].items():
        if d != dims:
            continue
        parts = {"squeeze": squeeze, "excite": excite, "gate": gate}
        if result.status == "FAIL":
            problems.append(f"{parts} in {dims}-D fails: {result.reason}")
        elif result.status == "refused" and not alternatives_named(result.message, parts, dims):
            problems.append(f"{parts} in {dims}-D refused without naming a working alternative: {result.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_matrix_covers_every_triple_in_every_dims(matrix_results):
    assert set(matrix_results["se"]) == {(s, e, g, d) for s in SQUEEZE.names() for e in EXCITE.names()
                                         for g in GATE.names() for d in DIMS}


def buildable(squeeze: str, excite: str, dims: int = 2):
    """(gate, block) for every gate the pair builds with."""
    for gate in GATE.names():
        try:
            yield gate, build({"squeeze": squeeze, "excite": excite, "gate": gate}, dims)
        except SpecError:
            continue


@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_channels_last_in_channels_last_out(squeeze, excite):
    for dims, fmt, shape in ((2, torch.channels_last, (2, C, 7, 9)), (3, torch.channels_last_3d, (2, C, 3, 5, 4))):
        x = torch.randn(shape).to(memory_format=fmt)
        lost = [gate for gate, block in buildable(squeeze, excite, dims)
                if not block.train()(x).is_contiguous(memory_format=fmt)]
        assert not lost, f"{squeeze}/{excite} {dims}-D: a {fmt} input gives another layout with gates {lost}"


@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_bf16_autocast_on_cpu(squeeze, excite):
    for gate, block in buildable(squeeze, excite):
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(2, C, 7, 9, dtype=dtype, requires_grad=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = block.train()(x)
            y.float().sum().backward()
            where = f"{squeeze}/{excite}/{gate} with {dtype} input under bf16 autocast"
            assert y.shape == x.shape and y.dtype == dtype, f"{where}: output {tuple(y.shape)} {y.dtype}"
            assert torch.isfinite(y).all() and torch.isfinite(x.grad).all(), f"{where}: non-finite"


def expected_scale(axes: str, dims: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The scale shape of a squeeze with option ``axes``, read from the table in se_variants/descriptor.py."""
    sizes = dict(zip(("N", "C", *(a.upper() for a in SPATIAL_AXES[dims])), shape), **{"1": 1})
    text = scale_shape(NAMED_AXES[axes][dims], dims)
    return tuple(sizes[t.strip()] for t in text.strip("()").split(","))


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_descriptor_and_scale_shapes(squeeze, excite, dims):
    try:
        block = build({"squeeze": squeeze, "excite": excite, "gate": "sigmoid"}, dims).eval()
    except SpecError:
        return  # refusals are checked above
    desc = block.squeeze.descriptor
    assert desc.dims == dims
    letters = ("c", *SPATIAL_AXES[dims])
    for shape in SHAPES[dims]:
        x = torch.randn(shape)
        d = block.squeeze(x)
        kept = dict(zip(letters, shape[1:]))
        expected = (shape[0], desc.stats) + tuple(kept[a] if a in desc.keeps else 1 for a in letters)
        if desc.reduced:  # a local gather keeps the spatial axes at a lower resolution; the scale is resized back
            assert d.shape[:3] == expected[:3] and all(d.shape[i] <= shape[i - 1] for i in range(3, d.dim()))
            expected_scale_shape = (shape[0], C, *shape[2:])
        else:
            assert tuple(d.shape) == expected, f"descriptor {tuple(d.shape)}, expected (N, S, C', *spatial') {expected}"
            axes = getattr(block.squeeze, "axes", None)
            expected_scale_shape = (expected_scale(axes, dims, shape) if isinstance(axes, str)
                                    else (shape[0],) + expected[2:])
        assert tuple(block.excite(d).shape) == tuple(d.shape[:1] + d.shape[2:])
        assert tuple(block.scale(x).shape) == expected_scale_shape


@pytest.mark.parametrize("dims", DIMS)
def test_local_gather_descriptor_is_reduced_and_scale_resized(dims):
    block = build_block(channels=C, dims=dims, squeeze={"name": "conv", "extent": 2}).eval()
    shape = (2, C, 7, 9, 5)[: dims + 2]
    x = torch.randn(shape)
    assert block.squeeze.descriptor.reduced
    assert tuple(block.squeeze(x).shape) == (2, 1, C, *((s + 1) // 2 for s in shape[2:]))
    assert tuple(block.scale(x).shape) == shape


def test_user_registered_squeeze_is_usable_by_name(toy_squeeze):
    assert toy_squeeze in SQUEEZE.names()
    x = torch.randn(2, C, 7, 9, requires_grad=True)
    for excite in ("fc", "conv1d"):
        block = build_block(channels=C, squeeze=toy_squeeze, excite=excite)
        block(x).sum().backward()
    block = build_block({"squeeze": {"name": toy_squeeze, "eps": 1e-3}}, channels=C)
    assert block.squeeze.eps == 1e-3
    with pytest.raises(SpecError, match="Did you mean 'eps'"):
        build_block(channels=C, squeeze={"name": toy_squeeze, "epss": 1e-3})
    # an op written without a dims parameter is a 2-D op: other dims are refused, naming why
    with pytest.raises(SpecError, match=r"squeeze 'toy_rms' takes no 'dims'.*cannot be built for dims=1"):
        build_block(channels=C, dims=1, squeeze=toy_squeeze)
    with pytest.raises(ValueError, match="cannot honour a mask: squeeze 'toy_rms'"):
        block(x, mask=torch.ones(2, 7, 9, dtype=torch.bool))


def test_unregister_removes_the_name(toy_squeeze):
    entry = SQUEEZE.unregister(toy_squeeze)
    try:
        assert toy_squeeze not in SQUEEZE
        with pytest.raises(SpecError, match="Unknown squeeze"):
            build_block(channels=C, squeeze=toy_squeeze)
    finally:
        SQUEEZE.register(toy_squeeze)(entry.factory)  # the fixture unregisters it again
    with pytest.raises(SpecError, match="Unknown squeeze 'nope'"):
        SQUEEZE.unregister("nope")
