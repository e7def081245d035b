"""Bad input: every mistake fails early with what was wrong, what was expected and the nearest valid name; edge
inputs (C < r, 1×1 maps, batch 1 in train mode) run without NaN or are refused clearly -- across all presets."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import torch

from se_variants import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, SpecError, build_block

C = 8
REGISTRIES = {"squeeze": SQUEEZE, "excite": EXCITE, "gate": GATE, "composition": COMPOSE, "preset": PRESET}
#: every preset, and "parts": the parts' defaults (plain SE)
BLOCKS = PRESET.names() + ["parts"]

pytestmark = pytest.mark.usefixtures("single_thread")


def make(name: str, channels: int, **options: Any) -> torch.nn.Module:
    return build_block(name, channels=channels, **options)


def lists_all(message: str, names: list[str]) -> bool:
    return all(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", message) for n in names)


# --- unknown names and keys ------------------------------------------------------------------------------------


def test_unknown_block_suggests_and_lists():
    with pytest.raises(SpecError, match=r"Unknown block 'cbma'\. Did you mean 'cbam'\?") as err:
        build_block("cbma", channels=C)
    assert lists_all(str(err.value), PRESET.names() + COMPOSE.names() + ["none"])
    assert "squeeze=" in str(err.value)  # and says how to compose parts instead
    with pytest.raises(SpecError, match=r"'fc' is an excite op: parts go under squeeze/excite/gate"):
        build_block("fc", channels=C)


def test_unknown_squeeze_suggests_and_lists():
    with pytest.raises(SpecError, match=r"Unknown squeeze 'avgg'\. Did you mean 'avg'\? Available: ") as err:
        build_block(channels=C, squeeze="avgg")
    assert lists_all(str(err.value), SQUEEZE.names())


@pytest.mark.parametrize(("kind", "typo", "meant"), [("excite", "fcc", "fc"), ("gate", "sigmod", "sigmoid")])
def test_unknown_part_names(kind, typo, meant):
    with pytest.raises(SpecError, match=rf"Unknown {kind} '{typo}'\. Did you mean '{meant}'\?") as err:
        build_block(channels=C, **{kind: typo})
    assert lists_all(str(err.value), REGISTRIES[kind].names())


def test_unknown_option_key_suggests_and_lists():
    with pytest.raises(SpecError, match=r"Unknown option 'reducton' for excite 'fc'\. Did you mean 'reduction'\?") as e:
        build_block(channels=C, excite={"name": "fc", "reducton": 8})
    assert lists_all(str(e.value), list(EXCITE.entry("fc").options))


def test_unknown_block_key_and_preset_option():
    with pytest.raises(SpecError, match=r"Unknown option 'squeez' .*Did you mean 'squeeze'\?"):
        build_block(channels=C, squeez="max")
    with pytest.raises(SpecError, match=r"Unknown option 'reducion' for preset 'se'\. Did you mean 'reduction'\?"):
        build_block("se", channels=C, reducion=8)


def test_unknown_composition_name():
    with pytest.raises(SpecError, match=r"Unknown block 'seriel'\. Did you mean 'serial'\?"):
        build_block({"name": "seriel", "blocks": ["se"]}, channels=C)


@pytest.mark.parametrize("spec", [{"reduction": 8}, 3, ["fc"]])
def test_part_spec_without_a_name(spec):
    with pytest.raises(SpecError, match="Available names: fc"):
        build_block(channels=C, excite=spec)


@pytest.mark.parametrize("spec", [3, ["se"], 2.5])
def test_block_spec_of_wrong_kind(spec):
    with pytest.raises(SpecError, match="block name or a mapping"):
        build_block(spec, channels=C)


@pytest.mark.parametrize("channels", [0, -4, True, 8.0, "8", None])
def test_bad_channel_count(channels):
    with pytest.raises(SpecError, match="channels must be a positive int"):
        build_block("se", channels=channels)


# --- wrong option types ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "key", "expected"), [
    ({"excite": {"name": "fc", "reduction": "8"}}, "reduction", "float"),
    ({"excite": {"name": "conv1d", "kernel_size": 3.5}}, "kernel_size", "int"),
    ({"excite": {"name": "fc", "bias": "yes"}}, "bias", "bool"),
    ({"excite": {"name": "fc", "norm": "batch"}}, "norm", "one of 'none' | 'bn' | 'ln'"),
    ({"squeeze": {"name": "avg", "stats": "max"}}, "stats", "list of"),
    ({"squeeze": {"name": "conv", "extent": True}}, "extent", "int"),
    ({"name": "se", "reduction": "16"}, "reduction", "float"),
    ({"name": "cbam", "style": "tim"}, "style", "one of 'official' | 'timm'"),
])
def test_wrong_option_type_is_refused_when_built(spec, key, expected):
    with pytest.raises(SpecError, match=rf"Option '{key}' of .*expected {re.escape(expected)}"):
        build_block(spec, channels=C)


def typed_options():
    """(registry kind, name, option) for every option of every registered entry whose type is checked."""
    for kind, registry in REGISTRIES.items():
        for name in registry.names():
            entry = registry.entry(name)
            for option, tp in entry.option_types().items():
                if tp is not Any and tp is not inspect.Parameter.empty:
                    yield kind, name, option


@pytest.mark.parametrize(("kind", "name", "option"), list(typed_options()))
def test_every_typed_option_refuses_a_wrong_type(kind, name, option):
    with pytest.raises(SpecError, match=rf"Option '{option}' of {kind} '{name}': expected "):
        REGISTRIES[kind].resolve(name, **{option: {"not", "a", "valid", "value"}})


# --- wrong inputs at forward time ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BLOCKS)
def test_forward_with_wrong_channel_count_says_what_was_expected(name, make_inputs):
    block = make(name, C)
    xs = make_inputs(block, (2, C + 1, 7, 9))
    with pytest.raises(ValueError, match=rf"\b{C}\b") as err:
        block(*xs)
    assert str(C + 1) in str(err.value)


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("shape", [(2, C, 7), (2, C, 7, 9, 1), (2, C)])
def test_forward_with_wrong_rank_says_what_was_expected(name, shape, make_inputs):
    block = make(name, C)
    with pytest.raises(ValueError, match=r"built for dims=2: it expects a 4-D input \(N, C=8, H, W\)") as err:
        block(*make_inputs(block, shape))
    if len(shape) in (3, 5):
        assert f"build it with dims={len(shape) - 2}" in str(err.value)


def test_fusion_with_wrong_number_of_inputs():
    block = build_block("multi_input", channels=C)
    with pytest.raises(ValueError, match=f"built for {block.inputs} inputs, got 3"):
        block(*[torch.randn(2, C, 5, 5) for _ in range(3)])


# --- edge inputs: C < r, 1×1 maps, batch 1 in train mode -------------------------------------------------------


@pytest.mark.parametrize("name", BLOCKS)
def test_small_inputs_run_or_are_refused_clearly(name, make_inputs):
    channels = 4  # smaller than r = 16
    if name == "parts":
        options = {"excite": {"name": "fc", "reduction": 16}}
    else:
        options = {"reduction": 16} if "reduction" in PRESET.entry(name).options else {}
    try:
        block = make(name, channels, **options).train()
    except SpecError as err:
        assert len(str(err)) > 20, f"{name}: refusal without a reason: {err!r}"
        return
    for shape in [(1, channels, 1, 1), (2, channels, 1, 1), (1, channels, 5, 5), (1, channels, 1, 9)]:
        xs = [x.requires_grad_() for x in make_inputs(block, shape)]
        y = block(*xs)
        y.sum().backward()
        assert y.shape == shape, f"{name} on {shape}: output {tuple(y.shape)}"
        assert torch.isfinite(y).all(), f"{name} on {shape}: non-finite output"
        assert all(torch.isfinite(x.grad).all() for x in xs), f"{name} on {shape}: non-finite input gradient"


# --- refusals that name what works -----------------------------------------------------------------------------


def test_branch_gate_in_an_se_block_names_what_works():
    with pytest.raises(SpecError, match="fusion") as err:
        build_block(channels=C, gate="softmax")
    assert "sigmoid" in str(err.value)


def test_fusion_with_an_excite_that_cannot_emit_branches():
    with pytest.raises(SpecError, match=r"excite 'conv1d' cannot emit K·C logits .*Use one of: fc"):
        build_block({"name": "fusion", "excite": "conv1d"}, channels=C)


def test_channel_free_squeeze_with_channel_sized_excite_in_fusion():
    with pytest.raises(SpecError, match="squeeze must keep C.*Use avg"):
        build_block({"name": "fusion", "squeeze": "c"}, channels=C)


# --- registration ----------------------------------------------------------------------------------------------


def test_registering_a_taken_name_names_the_module_that_has_it():
    class Another(torch.nn.Module):
        """A stand-in op."""

    with pytest.raises(SpecError, match=r"squeeze 'avg' is already registered by se_variants\.squeeze\.pool\.Pool"):
        SQUEEZE.register("avg")(Another)
    with pytest.raises(SpecError, match=r"preset 'se' is already registered by se_variants\.presets\.\w+\.se"):
        PRESET.register("se")(Another)
    assert SQUEEZE.get("avg").__name__ == "Pool"


def test_registering_a_user_op_twice(toy_squeeze):
    with pytest.raises(SpecError, match=rf"squeeze '{toy_squeeze}' is already registered by conftest\.ToyRMS"):
        SQUEEZE.register(toy_squeeze)(SQUEEZE.get(toy_squeeze))


def test_registration_defaults_must_be_options():
    with pytest.raises(SpecError, match=r"sets unknown options \['kernel'\]"):
        SQUEEZE.register("throwaway_pool", kernel=3)(SQUEEZE.get("avg"))
    assert "throwaway_pool" not in SQUEEZE
