"""One spec grammar: a block is named by ``name`` (presets, compositions and ``none`` share one namespace), the
runner's config layout goes through one translator (``spec.from_config``), the baseline is decided in one place;
no import cycles; options that would have no effect are refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import se_variants as sv
from se_variants import COMPOSE, PRESET, SpecError, build_block
from se_variants.spec import PARTS, block_name, from_config, is_baseline, split_block

PACKAGE = Path(sv.__file__).resolve().parent


# --- the grammar ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "options", "name", "rest"), [
    ("cbam", {}, "cbam", {}),
    ({"name": "cbam", "reduction": 8}, {}, "cbam", {"reduction": 8}),
    ("se", {"reduction": 4}, "se", {"reduction": 4}),
    (None, {"squeeze": "max"}, PARTS, {"squeeze": "max"}),
    ({"squeeze": "max"}, {"excite": "conv1d"}, PARTS, {"squeeze": "max", "excite": "conv1d"}),
    ({"name": "serial", "blocks": ["se"]}, {}, "serial", {"blocks": ["se"]}),
])
def test_one_key_names_every_block(spec, options, name, rest):
    assert split_block(spec, options) == (name, rest)


@pytest.mark.parametrize("key", ["preset", "type"])
def test_retired_discriminator_keys_are_refused_with_the_rewrite(key):
    with pytest.raises(SpecError, match=rf"names its block with 'name'.*got {key}='cbam'.*{{'name': 'cbam', ...}}"):
        build_block({key: "cbam"}, channels=8)


def test_presets_and_compositions_build_by_name_nested_too():
    block = build_block({"name": "serial", "blocks": ["se", {"name": "parallel", "combine": "mean",
                                                             "blocks": ["eca", {"squeeze": "c", "excite": "conv1d"}]}]},
                        channels=8, dims=1)
    assert isinstance(block, sv.Serial) and isinstance(block[1], sv.Parallel)
    assert block[0].dims == block[1].branches[1].dims == 1  # dims reach nested blocks
    assert block(torch.randn(2, 8, 9)).shape == (2, 8, 9)
    with pytest.raises(SpecError, match="named twice"):
        build_block("se", channels=8, name="cbam")


def test_block_names_are_one_namespace():
    assert not set(COMPOSE.names()) & set(PRESET.names())

    def clash(channels: int, dims: int = 2):
        """A throwaway."""

    for name, registry in (("serial", PRESET), ("se", COMPOSE)):
        with pytest.raises(SpecError, match="share one namespace of block names"):
            registry.register(name)(clash)
    for registry in (PRESET, COMPOSE):
        with pytest.raises(SpecError, match="'none' is a reserved"):
            registry.register("none")(clash)


def test_none_is_no_block():
    assert isinstance(build_block("none", channels=8), torch.nn.Identity)
    with pytest.raises(SpecError, match="takes no options"):
        build_block("none", channels=8, reduction=4)


# --- the runner's layout: one translator, one baseline decision --------------------------------------------------


def test_from_config_joins_the_part_groups_for_parts_only():
    parts = {"name": "max", "stats": ["max"]}
    cfg = {"block": {"name": "parts", "fuse": "scale"}, "squeeze": parts, "excite": "fc", "gate": "sigmoid"}
    assert from_config(cfg) == {"name": "parts", "squeeze": parts, "excite": "fc", "gate": "sigmoid", "fuse": "scale"}
    cfg["block"] = {"name": "cbam", "reduction": 8}
    assert from_config(cfg) == {"name": "cbam", "reduction": 8}  # a preset chooses its own parts
    cfg["block"] = {"name": "none"}
    assert from_config(cfg) is None
    with pytest.raises(SpecError, match="takes no options"):
        from_config({"block": {"name": "none", "reduction": 2}})


def test_one_function_decides_the_baseline():
    from se_variants.runner.identity import is_baseline as runner_is_baseline

    assert is_baseline(None) and is_baseline("none") and is_baseline({"name": "none"}) and not is_baseline("se")
    assert runner_is_baseline({"block": {"name": "none"}}) and runner_is_baseline({"block": "none"})  # config, record
    assert not runner_is_baseline({"block": {"name": "parts"}}) and not runner_is_baseline({"block": "se(reduction=8)"})


def test_generated_block_nodes_are_block_specs():
    from se_variants.runner.gen import preset_node

    for name in PRESET.names():
        node = preset_node(name)
        assert block_name(node) == name and "preset" not in node
        build_block(node, channels=16)


# --- structure: no import cycles, library code does not import CLI code ------------------------------------------


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_compositions_do_not_import_the_factory():
    for path in (PACKAGE / "compose").glob("*.py"):
        assert not any("factory" in m for m in _imports(path)), f"{path.name} imports the factory (a cycle)"
    assert not hasattr(sv.Serial, "of")  # Serial takes built blocks; any module chain is an nn.Sequential


def test_flop_counting_is_a_library_module():
    assert not any("library_cli" in m for m in _imports(PACKAGE / "runner" / "measure.py"))
    assert sv.count_flops(torch.nn.Linear(4, 2), torch.randn(3, 4)) == 2 * 3 * 4 * 2


# --- options that have no effect are refused ---------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ({"excite": {"name": "fc", "layers": 1, "reduction": 8}}, r"reduction=8.0 would have no effect with layers=1"),
    ({"excite": {"name": "fc", "layers": 1, "act": "silu"}}, r"act='silu' would have no effect with layers=1"),
    ({"excite": {"name": "fc", "layers": 1, "norm": "bn"}}, r"norm='bn' would have no effect with layers=1"),
    ({"excite": {"name": "fc", "hidden": 4, "reduction": 8}}, r"reduction=8.0 would have no effect with an explicit"),
    ({"excite": {"name": "fc", "round_limit": 0.9}}, r"round_limit=0.9 would have no effect with divisor=0"),
    ({"excite": {"name": "fc", "norm_eps": 1e-3}}, r"norm_eps=0.001 would have no effect without a norm"),
    ({"excite": {"name": "fc", "grid": 4}}, r"grid=4 would have no effect on a descriptor that keeps C"),
    ({"excite": {"name": "conv1d", "kernel_size": 3, "gamma": 3.0}}, r"gamma=3.0 would have no effect with kernel_"),
    ({"squeeze": "c", "excite": {"name": "conv1d", "beta": 2.0}}, r"beta=2.0 would have no effect on a descriptor"),
    ({"excite": {"name": "conv1d", "bn_momentum": 0.01}}, r"bn_momentum=0.01 would have no effect without a norm"),
    ({"name": "ge", "mlp": False, "reduction": 8}, r"reduction=8.0 would have no effect with mlp=false"),
    ({"name": "se", "hidden": 8, "divisor": 8}, r"divisor=8 would have no effect with an explicit hidden=8"),
])
def test_options_without_effect_are_refused(spec, message):
    with pytest.raises(SpecError, match=message):
        build_block(spec, channels=16)


def test_dead_options_are_gone():
    assert "gate" not in PRESET.entry("simam").options  # it had one legal value
    assert not hasattr(sv.Descriptor, "kept_dims")
    assert "seed_fusion" not in PRESET and "multi_input" in PRESET  # renamed: it is not a seed setting
    # the defaults themselves stay accepted (a Hydra config lists every option with its default)
    build_block(channels=16, excite={"name": "fc", "layers": 1, "reduction": 16, "act": "relu"})
