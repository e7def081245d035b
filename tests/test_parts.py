"""Every registered squeeze × excite × gate: builds and trains, or is refused with a reason that names what works.

The parameters are read from the registries when the tests are collected, so a newly registered op is tested
with no edit here. One test per (squeeze, excite) pair loops over the gates and input shapes to keep this fast.
"""

from __future__ import annotations

import re

import pytest
import torch

from se_variants import EXCITE, GATE, SQUEEZE, SpecError, build_block
from se_variants.descriptor import AXES, SCALE_SHAPES

C = 16
SHAPES = [(2, C, 7, 9), (2, C, 1, 1), (1, C, 5, 5)]
PAIRS = [(s, e) for s in SQUEEZE.names() for e in EXCITE.names()]
KINDS = {"squeeze": SQUEEZE, "excite": EXCITE, "gate": GATE}

pytestmark = pytest.mark.usefixtures("single_thread")


def build(parts: dict[str, str]):
    return build_block(channels=C, **parts)


def alternatives_named(message: str, parts: dict[str, str]) -> list[dict[str, str]]:
    """The part substitutions the message names (a registered name of some kind, different from the one used)
    that do build."""
    working = []
    for kind, registry in KINDS.items():
        for name in registry.names():
            if name == parts[kind] or not re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", message):
                continue
            candidate = {**parts, kind: name}
            try:
                build(candidate)
            except SpecError:
                continue
            working.append(candidate)
    return working


def finite_grads(block: torch.nn.Module, x: torch.Tensor) -> bool:
    grads = [x.grad] + [p.grad for p in block.parameters() if p.grad is not None]
    return all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_triple_trains_or_is_refused(squeeze, excite):
    problems = []
    for gate in GATE.names():
        parts = {"squeeze": squeeze, "excite": excite, "gate": gate}
        try:
            block = build(parts)
        except SpecError as err:
            if not alternatives_named(str(err), parts):
                problems.append(f"{parts} refused without naming a working alternative: {err}")
            continue
        block.train()
        for shape in SHAPES:
            torch.manual_seed(0)
            x = torch.randn(shape, requires_grad=True)
            block.zero_grad()
            y = block(x)
            if y.shape != x.shape or y.dtype != x.dtype:
                problems.append(f"{parts} on {shape}: output {tuple(y.shape)} {y.dtype}")
                continue
            (y * torch.randn_like(y)).sum().backward()
            if not torch.isfinite(y).all() or not finite_grads(block, x):
                problems.append(f"{parts} on {shape}: non-finite output or gradient")
    assert not problems, "\n".join(problems)


def buildable(squeeze: str, excite: str):
    """(gate, block) for every gate the pair builds with."""
    for gate in GATE.names():
        try:
            yield gate, build({"squeeze": squeeze, "excite": excite, "gate": gate})
        except SpecError:
            continue


@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_channels_last_in_channels_last_out(squeeze, excite):
    x = torch.randn(2, C, 7, 9).to(memory_format=torch.channels_last)
    lost = [gate for gate, block in buildable(squeeze, excite)
            if not block.train()(x).is_contiguous(memory_format=torch.channels_last)]
    assert not lost, f"{squeeze}/{excite}: channels_last input gives a channels_first output with gates {lost}"


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


def scale_shape(keeps: tuple[str, ...], n: int, h: int, w: int) -> tuple[int, ...]:
    """The scale shape for a descriptor keeping ``keeps``, read from the table in se_variants/descriptor.py."""
    pooled = {a for a in ("c", "h", "w") if a not in keeps}
    axes = next(k for k, v in AXES.items() if set(v) == pooled)
    sizes = {"N": n, "C": C, "H": h, "W": w, "1": 1}
    return tuple(sizes[t.strip()] for t in SCALE_SHAPES[axes].strip("()").split(","))


@pytest.mark.parametrize(("squeeze", "excite"), PAIRS)
def test_descriptor_and_scale_shapes(squeeze, excite):
    block = build({"squeeze": squeeze, "excite": excite, "gate": "sigmoid"}).eval()
    desc = block.squeeze.descriptor
    for n, _, h, w in SHAPES:
        x = torch.randn(n, C, h, w)
        d = block.squeeze(x)
        kept = {"c": C, "h": h, "w": w}
        expected = (n, desc.stats) + tuple(kept[a] if a in desc.keeps else 1 for a in ("c", "h", "w"))
        if desc.reduced:  # a local gather keeps H and W at a lower resolution; the block resizes the scale back
            assert d.shape[:3] == expected[:3] and d.shape[3] <= h and d.shape[4] <= w
            expected_scale = (n, C, h, w)
        else:
            assert tuple(d.shape) == expected, f"descriptor {tuple(d.shape)}, expected (N, S, C', H', W') {expected}"
            expected_scale = scale_shape(desc.keeps, n, h, w)
        assert tuple(block.excite(d).shape) == tuple(d.shape[:1] + d.shape[2:])
        assert tuple(block.scale(x).shape) == expected_scale


def test_local_gather_descriptor_is_reduced_and_scale_resized():
    block = build_block(channels=C, squeeze={"name": "conv", "extent": 2}).eval()
    x = torch.randn(2, C, 7, 9)
    assert block.squeeze.descriptor.reduced
    assert tuple(block.squeeze(x).shape) == (2, 1, C, 4, 5)
    assert tuple(block.scale(x).shape) == (2, C, 7, 9)


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
