"""``se-variants list`` and ``se-variants show``: registries listed dynamically, specs as overrides, FLOPs, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from se_variants import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, cli
from se_variants.library_cli import PLAIN_WIDTH
from se_variants.flops import count_flops, module_flops
from se_variants.overrides import format_value, parse_overrides, parse_value
from se_variants.runner.samplers import PRUNER, SAMPLER
from se_variants.runner.trackers import LOGGER

import se_variants as sv

REGISTRIES = [SQUEEZE, EXCITE, GATE, COMPOSE, PRESET, SAMPLER, PRUNER, LOGGER]

pytestmark = pytest.mark.usefixtures("single_thread")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def field(out: str, label: str) -> list[str]:
    """The values of the output lines that start with ``label``."""
    return [line[len(label):].strip() for line in out.splitlines() if line.startswith(label + " ")]


# --- list ------------------------------------------------------------------------------------------------------


def entries(out: str) -> dict[tuple[str, str], tuple[str, str, list[str]]]:
    """``se-variants list``'s output as (kind, name) → (summary, options text, the entry's lines), in order: an entry
    starts at a line that is not indented; its options start at ``options:``; wrapped lines are joined back."""
    found: dict[tuple[str, str], list[str]] = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            kind, name, *rest = line.split(maxsplit=2)
            key = (kind, name)
            found[key] = [line]
        else:
            found[key].append(line)
    parsed = {}
    for key, lines in found.items():
        words = " ".join(lines).split()[2:]
        cut = words.index("options:")
        parsed[key] = (" ".join(words[:cut]), " ".join(words[cut + 1:]), lines)
    return parsed


def test_list_has_one_entry_per_registered_entry(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    listed = entries(out)
    assert list(listed) == [(r.kind, n) for r in REGISTRIES for n in r.names()]
    for (kind, name), (summary, _, lines) in listed.items():
        assert summary == REGISTRIES[[r.kind for r in REGISTRIES].index(kind)].entry(name).summary
        assert sum(line.lstrip().startswith("options:") for line in lines) == 1  # the options on lines of their own


def test_list_describes_each_op_of_a_shared_class_by_its_options(capsys):
    """The 11 pooling squeezes are one class registered under 11 names: each gets its own description, from the
    options its name sets."""
    _, out, _ = run(capsys, "list", "squeeze")
    listed = {name: summary for (_, name), (summary, _, _) in entries(out).items()}
    pooling = [n for n in SQUEEZE.names() if SQUEEZE.get(n) is SQUEEZE.get("avg")]
    assert len(pooling) == 11 and len({listed[n] for n in pooling}) == 11
    assert listed["max"].startswith("Max pooling over H and W")
    assert listed["avgmax"].startswith("Average and max pooling over H and W")
    assert listed["meanstd"].startswith("Average and standard deviation pooling")
    assert listed["h"].startswith("Average pooling over W, keeping H")  # `h` keeps H: the trap the name sets
    assert listed["d"].startswith("Average pooling over H and W, keeping D (3-D only)")
    assert listed["c"].startswith("Average pooling over C")


def test_a_subclass_of_a_shared_class_describes_itself():
    """A user's op built on the pooling class, with options of its own, is listed by its own docstring (the
    pooling class's description of its options is not about it)."""
    from se_variants.squeeze.pool import Pool

    class SoftPool(Pool):
        """Pooling with a temperature (a user's op, for this test)."""

        def __init__(self, channels: int, dims: int = 2, *, stats: tuple = ("avg",), axes: str = "spatial",
                     temperature: float = 1.0):
            super().__init__(channels, dims, stats=stats, axes=axes)

    SQUEEZE.register("soft_pool_test")(SoftPool)
    try:
        assert SQUEEZE.entry("soft_pool_test").summary == "Pooling with a temperature (a user's op, for this test)."
    finally:
        SQUEEZE.unregister("soft_pool_test")


@pytest.mark.parametrize("columns", [60, 40])
def test_list_wraps_to_the_terminals_width(capsys, monkeypatch, columns):
    """No line past the terminal's width (COLUMNS, as a terminal reports it); in a narrow one the text goes under
    the names. Nothing is lost: every entry is still there, options included."""
    monkeypatch.setenv("COLUMNS", str(columns))
    _, out, _ = run(capsys, "list")
    assert max(len(line) for line in out.splitlines()) <= columns
    listed = entries(out)
    assert len(listed) == sum(len(r) for r in REGISTRIES)
    assert "reduction=16 (float)" in listed[("excite", "fc")][1]


def test_list_into_a_file_or_pipe_is_100_columns_wide(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    _, out, _ = run(capsys, "list")  # capsys: the output is not a terminal
    widths = [len(line) for line in out.splitlines()]
    assert max(widths) <= PLAIN_WIDTH and max(widths) > PLAIN_WIDTH - 10  # the width is used, not a default 80


def test_list_shows_options_with_defaults_and_types(capsys):
    _, out, _ = run(capsys, "list", "excite", "preset")
    listed = entries(out)
    fc = listed[("excite", "fc")][1]
    assert "reduction=16 (float)" in fc and "hidden=null (int | None)" in fc and "bias=true (bool)" in fc
    assert "norm=none ('none' | 'bn' | 'ln')" in fc
    assert "style=official ('official' | 'timm')" in listed[("preset", "cbam")][1]
    assert {kind for kind, _ in listed} == {"excite", "preset"}


def test_list_picks_up_a_newly_registered_op(capsys, toy_squeeze):
    _, out, _ = run(capsys, "list", "squeeze")
    summary, options, _ = entries(out)[("squeeze", toy_squeeze)]
    assert "Root mean square over H×W" in summary and "eps=1e-06 (float)" in options


OWN_OPS = '''
from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze


@SQUEEZE.register("cli_rms")
class CliRMS(Squeeze):
    """Root mean square over the spatial axes (a user's op, for the --imports test)."""

    def __init__(self, channels: int, dims: int = 2, *, eps: float = 1e-6):
        super().__init__(channels, dims)
        self.eps, self.spatial = eps, tuple(range(2, 2 + dims))
        self.descriptor = Descriptor(channels, stats=1, keeps=("c",), dims=dims)

    def forward(self, x):
        return x.pow(2).mean(self.spatial, keepdim=True).add(self.eps).sqrt().unsqueeze(1)
'''


def test_your_own_ops_come_in_with_imports_and_an_unknown_op_says_so(capsys, tmp_path, monkeypatch):
    """An op name the registry does not have says how a user's own op comes in (--imports), keeping "did you
    mean"; with --imports, show and list take it."""
    (tmp_path / "sv_cli_ops.py").write_text(OWN_OPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "show", "squeeze=cli_rms")
    assert code == 2 and "Unknown squeeze 'cli_rms'" in err and "with --imports <module>" in err
    code, _, err = run(capsys, "show", "block=parts", "excite=fcc")
    assert code == 2 and "Did you mean 'fc'?" in err and "--imports" in err
    try:
        code, out, _ = run(capsys, "show", "squeeze=cli_rms", "--imports", "sv_cli_ops")
        assert code == 0 and field(out, "spec") == ["channels=64 squeeze=cli_rms"]
        code, out, _ = run(capsys, "list", "squeeze", "--imports", "sv_cli_ops")
        assert code == 0 and "Root mean square" in entries(out)[("squeeze", "cli_rms")][0]
    finally:
        if "cli_rms" in SQUEEZE:
            SQUEEZE.unregister("cli_rms")
        sys.modules.pop("sv_cli_ops", None)
    code, _, err = run(capsys, "list", "--imports", "no_such_module_sv")
    assert code == 2 and "cannot import 'no_such_module_sv'" in err and "Traceback" not in err


def test_list_unknown_kind(capsys):
    code, _, err = run(capsys, "list", "squeez")
    assert code == 2 and "Did you mean 'squeeze'?" in err


# --- show ------------------------------------------------------------------------------------------------------


def test_show_parts(capsys):
    code, out, err = run(capsys, "show", "squeeze=max", "excite=conv1d", "gate=sigmoid", "--channels", "64",
                       "--input", "2,64,32,32")
    assert code == 0, (out, err)
    assert "(squeeze): Pool(64, stats=['max'], axes='spatial')" in out  # the module tree
    assert field(out, "parameters") == ["3 (3 trainable)"]  # ECA k = 3 for C = 64, no bias
    assert field(out, "output") == ["(2, 64, 32, 32)"]
    assert field(out, "descriptor")[0].startswith("(2, 1, 64, 1, 1)")
    assert field(out, "scale")[0].startswith("(2, 64, 1, 1)")
    # Conv1d(1 → 1, k=3) over 64 positions, 2 samples: 2 FLOPs per multiply-add
    assert field(out, "FLOPs")[0].startswith(f"{2 * 2 * 64 * 3:,} ")
    assert "not counted" in out


def test_show_default_block_flops_by_hand(capsys):
    code, out, err = run(capsys, "show", "--input", "2,64,8,8")
    assert code == 0, (out, err)
    hidden = 64 // 16
    assert field(out, "FLOPs")[0].startswith(f"{2 * (2 * 64 * hidden) * 2:,} ")  # two FCs on N = 2 vectors
    params = 64 * hidden + hidden + hidden * 64 + 64  # two FCs with biases
    assert field(out, "parameters") == [f"{params:,} ({params:,} trainable)"]


def test_show_preset_with_option(capsys):
    code, out, err = run(capsys, "show", "name=cbam", "reduction=8")
    assert code == 0, (out, err)
    assert out.splitlines()[1].startswith("Serial(")
    assert len(field(out, "descriptor")) == 2 and len(field(out, "scale")) == 2
    code, bare, err = run(capsys, "show", "cbam", "reduction=8")
    assert code == 0 and bare == out, (bare, out, err)
    code, hydra, err = run(capsys, "show", "block=cbam", "block.reduction=8")  # the runner's overrides
    assert code == 0 and hydra == out, (hydra, out, err)


def test_show_takes_the_runner_block_group(capsys):
    code, parts, err = run(capsys, "show", "block=parts", "squeeze=max")
    assert code == 0 and field(parts, "spec") == ["channels=64 name=parts squeeze=max"], (parts, err)
    code, _, err = run(capsys, "show", "block=none")
    assert code == 2 and "baseline" in err, err


@pytest.mark.parametrize("args", [
    ["excite.name=fc", "excite.reduction=8"],
    ["excite={name: fc, reduction: 8}"],
    ["excite=fc", "excite.reduction=8"],
    ["excite.reduction=8"],  # the block's default excite (fc)
    ["excite.reduction=8", "excite=fc"],
])
def test_show_override_forms_agree(capsys, args):
    code, out, err = run(capsys, "show", *args)
    assert code == 0, (out, err)
    assert field(out, "spec") == ["channels=64 excite={name: fc, reduction: 8}"]
    assert field(out, "parameters") == [f"{64 * 8 + 8 + 8 * 64 + 64:,} (1,096 trainable)"]


@pytest.mark.parametrize(("args", "descriptor", "scale"), [
    (["ecapa_se", "--input", "4,512,200"], "(4, 1, 512, 1)", "(4, 512, 1)"),
    (["squeeze=c", "excite=conv1d", "--dims", "1"], "(2, 1, 1, 64)", "(2, 1, 64)"),
    (["x3d_se", "--input", "2,54,4,8,8"], "(2, 1, 54, 1, 1, 1)", "(2, 54, 1, 1, 1)"),
    (["squeeze=d", "--dims", "3", "--channels", "16"], "(2, 1, 16, 8, 1, 1)", "(2, 16, 8, 1, 1)"),
])
def test_show_1d_and_3d(capsys, args, descriptor, scale):
    code, out, err = run(capsys, "show", *args)
    assert code == 0, (out, err)
    assert field(out, "descriptor")[0].startswith(descriptor) and field(out, "scale")[0].startswith(scale)
    mixes = "excite=conv1d" in args  # a conv over the kept positions
    assert field(out, "mask")[0].startswith("no: excite 'conv1d' mixes" if mixes else "yes")


def test_show_multi_input_block(capsys):
    code, out, err = run(capsys, "show", "multi_input", "inputs=3", "--input", "1,32,8,8")
    assert code == 0, (out, err)
    assert field(out, "input")[0].startswith("(1, 32, 8, 8) × 3 inputs")
    assert field(out, "scale")[0].startswith("(1, 3, 32, 1, 1)")


@pytest.mark.parametrize(("args", "message"), [
    (["squeeze=avgg"], "Did you mean 'avg'?"),
    (["cbma"], "Did you mean 'cbam'?"),
    (["excite.reducton=8"], "Did you mean 'reduction'?"),
    (["excite.reduction='8'"], "expected float, got '8'"),
    (["excite=conv1d", "excite.kernel_size=3.5"], "expected int | None, got 3.5"),
    (["excite.bias=yes"], "expected bool, got 'yes'"),
    (["gate=softmax"], "fusion block"),
    (["excite={name: fc"], "Cannot read the value"),
    (["squeeze"], "'squeeze' needs a value: squeeze=<name>"),
    (["se", "cbam"], "Expected key=value, got 'cbam'"),
    (["--channels", "8", "--input", "2,16,4,4"], "--input has C=16"),
    (["--input", "2,3"], "expected N,C,L / N,C,H,W / N,C,D,H,W"),
    (["preset=cbam"], "names its block with 'name'"),
    (["block=cbam", "squeeze=max"], "block=cbam chooses its own parts"),
    (["--dims", "3", "--input", "2,8,4,4"], "has 2 spatial dims but --dims is 3"),
    (["coord", "--dims", "1"], "coordinate attention pools along one spatial axis"),
    (["--chanels", "8"], "unrecognized arguments: --chanels"),
])
def test_show_errors_exit_2_without_traceback(capsys, args, message):
    code, out, err = run(capsys, "show", *args)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err + out, (out, err)


@pytest.mark.slow  # starts a se-variants process
def test_console_command_error_has_no_traceback():
    """The installed command itself (a process of its own) ends an error with the message, exit 2, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "se_variants.cli", "show", "squeeze=avgg"],
                          capture_output=True, text=True, timeout=600)  # (the timeout: a guard against a hang only)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Unknown squeeze 'avgg'. Did you mean 'avg'?" in proc.stderr and "Traceback" not in proc.stderr, \
        proc.stderr


# --- override values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("8", 8), ("-3", -3), ("0.5", 0.5), ("1e-5", 1e-5), ("true", True), ("False", False), ("null", None),
    ("avg", "avg"), ("'8'", "8"), ('"a b"', "a b"), ("[3, 5]", [3, 5]), ("[]", []), ("[max, avg]", ["max", "avg"]),
    ("{name: fc, reduction: 8}", {"name": "fc", "reduction": 8}),
    ("{name: h, stats: [max, avg]}", {"name": "h", "stats": ["max", "avg"]}),
    ("{}", {}), ("yes", "yes"),
])
def test_parse_value(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("value", [8, 0.5, 1e-5, True, None, "avg", "8", "a b", [3, 5], {"name": "fc", "r": 8}])
def test_format_value_round_trips(value):
    assert parse_value(format_value(value)) == value


def test_parse_overrides_nests_dotted_keys():
    assert parse_overrides(["squeeze=max", "excite.name=fc", "excite.reduction=8", "+gate=tanh"]) == {
        "squeeze": "max", "excite": {"name": "fc", "reduction": 8}, "gate": "tanh"}
    assert parse_overrides(["se", "reduction=4"]) == {"name": "se", "reduction": 4}


# --- FLOPs helper ----------------------------------------------------------------------------------------------


def test_count_flops_matmul_and_conv():
    assert count_flops(nn.Linear(64, 4), torch.randn(2, 64)) == 2 * 2 * 64 * 4
    conv = nn.Conv2d(8, 16, 3, padding=1)
    assert count_flops(conv, torch.randn(1, 8, 5, 5)) == 2 * 16 * 25 * 8 * 9
    assert count_flops(nn.Sigmoid(), torch.randn(4, 4)) == 0  # elementwise: not counted


class Attention(nn.Module):
    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, q, q)


def test_count_flops_counts_attention_on_cpu():
    b, t, d = 2, 8, 4
    q = torch.randn(b, 1, t, d, requires_grad=True)
    forward = count_flops(Attention(), q)
    assert forward == 2 * (2 * b * t * t * d)  # Q·Kᵀ and A·V
    assert count_flops(Attention(), q, backward=True) > forward


def test_module_flops_by_child():
    block = torch.nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    assert module_flops(block, torch.randn(3, 8)) == {"0": 2 * 3 * 8 * 4, "1": 0, "2": 2 * 3 * 4 * 2}


@pytest.mark.parametrize("name", PRESET.names())
def test_our_counter_equals_torchs_flop_counter(name, make_inputs):
    """Our counting mode (no compiler imports) gives FlopCounterMode's totals, forward and forward + backward,
    for every preset (dims 2, and the 1-D ones in 1-D)."""
    from torch.utils.flop_counter import FlopCounterMode

    from se_variants.flops import _extra_formulas

    try:
        block = sv.build_block(name, channels=32)
        x = torch.randn(2, 32, 8, 8)
    except sv.SpecError:
        block, x = sv.build_block(name, channels=32, dims=1), torch.randn(2, 32, 16)
    inputs = make_inputs(block, tuple(x.shape))
    for backward in (False, True):
        args = [t.clone().requires_grad_(backward) for t in inputs]
        reference = FlopCounterMode(display=False, custom_mapping=_extra_formulas())
        with torch.set_grad_enabled(backward), reference:
            out = block(*args)
            if backward:
                out.float().sum().backward()
        args = [t.clone().requires_grad_(backward) for t in inputs]
        assert count_flops(block, *args, backward=backward) == reference.get_total_flops(), (name, backward)
