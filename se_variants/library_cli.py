"""``se-variants list`` and ``se-variants show``: what the registries hold, and what a spec builds.

``list`` prints every registered squeeze / excite / gate op, composition and preset, and every sampler and pruner
of the runner's searches (``hydra.sweeper.sampler.name``, ``hydra.sweeper.pruner.name``) -- a line of what it does,
a line of its options -- wrapped to the terminal::

    se-variants list                  # everything
    se-variants list squeeze gate     # only these kinds
    se-variants list sampler pruner   # what a search can sample and prune with

``show`` builds a block from a spec written as overrides (the names of Python and YAML) and prints its module
tree, parameter count, forward FLOPs, output shape and the descriptor and scale shapes::

    se-variants show squeeze=max excite=conv1d gate=sigmoid --channels 64 --input 2,64,32,32
    se-variants show cbam reduction=8                   # a block name, then its options (or name=cbam)
    se-variants show excite.name=fc excite.reduction=8
    se-variants show excite='{name: fc, reduction: 8}'
    se-variants show block=cbam block.reduction=8       # the runner's Hydra overrides work too
    se-variants show ecapa_se --input 4,512,200         # 1-D: (N, C, L); --dims 3 or a 5-D --input for 3-D

The spec is read by :func:`se_variants.overrides.parse_overrides` and, in the runner's layout (``block=...``),
turned into a block spec by :func:`se_variants.spec.from_config`. A bad spec prints its error ("did you mean
...") and exits 2. FLOPs are counted by :mod:`se_variants.flops`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .descriptor import SPATIAL_AXES
from .factory import build_block
from .flops import FLOPS_COUNTED, child_flops, counted_run
from .gate import Gate
from .overrides import format_value, parse_overrides
from .registry import (COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, SpecError, UnknownName, describe_type,
                       import_registrations, suggest)
from .runner.samplers import PRUNER, SAMPLER  # a search's samplers and pruners (no Optuna needed to list them)
from .runner.trackers import LOGGER  # (importing it registers the loggers; it needs only the standard library)
from .spec import PART_KEYS, PARTS, block_name, from_config, split_block
from .squeeze import Squeeze

__all__ = ["main", "list_lines", "spec_from_overrides"]

#: the input shape ``show`` uses when none is given, per dims
DEFAULT_SPATIAL = {1: (64,), 2: (32, 32), 3: (8, 16, 16)}


# ---------------------------------------------------------------------------------------------------------------
# list


def _registries() -> list[Any]:
    return [SQUEEZE, EXCITE, GATE, COMPOSE, PRESET, SAMPLER, PRUNER, LOGGER]


def _options_text(entry: Any) -> str:
    types_ = entry.option_types()
    parts = [f"{name}={format_value(default)} ({describe_type(types_[name])})"
             for name, default in entry.default_options().items()]
    return "; ".join(parts) if parts else "(none)"


#: the width ``list`` wraps to when its output is not a terminal (a file, a pipe)
PLAIN_WIDTH = 100
#: below this many columns for the descriptions, an entry's text goes under its kind and name
MIN_TEXT = 32


def output_width() -> int:
    """The terminal's width when the output is a terminal (or ``COLUMNS`` sets one), else :data:`PLAIN_WIDTH`."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return max(shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns, 20)
    return PLAIN_WIDTH


def list_lines(kinds: Sequence[str] = (), width: int | None = None) -> list[str]:
    """Each registered entry: kind, name and its one-line summary, then ``options: key=default (type); ...`` on
    a line of its own, every line wrapped to ``width`` (default: :func:`output_width`)."""
    width = width or output_width()
    rows = [(reg.kind, name, reg.entry(name)) for reg in _registries() if not kinds or reg.kind in kinds
            for name in reg.names()]
    kind_w = max((len(k) for k, _, _ in rows), default=0)
    name_w = max((len(n) for _, n, _ in rows), default=0)
    column = kind_w + name_w + 4
    stacked = width - column < MIN_TEXT  # a narrow terminal: the text under the names
    indent = " " * (4 if stacked else column)
    lines = []
    for kind, name, entry in rows:
        head = f"{kind:<{kind_w}}  {name:<{name_w}}  "
        if stacked:
            lines.append(head.rstrip())
        first = indent if stacked else head
        lines += textwrap.wrap(entry.summary or "-", width, initial_indent=first, subsequent_indent=indent,
                               break_on_hyphens=False)
        lines += textwrap.wrap(f"options: {_options_text(entry)}", width, initial_indent=indent,
                               subsequent_indent=indent + "  ", break_on_hyphens=False)
    return lines


def _modules(text: str) -> list[str]:
    names = [t for t in text.replace(" ", "").split(",") if t]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated module names such as my_ops,pkg.ops; got {text!r}")
    return names


def _imports_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imports", type=_modules, default=[], metavar="MOD1,MOD2",
                        help="modules to import first, where your own ops are registered (the runner's imports=[...])")


def _own_op_hint(err: SpecError) -> str:
    """After "Unknown squeeze 'rms'": how a user's own op comes in here (``--imports``)."""
    if not isinstance(err, UnknownName) or err.kind not in {r.kind for r in _registries()}:
        return ""
    return (f" If {err.name!r} is an op of your own, import the module that registers it with --imports <module>, "
            f"e.g. --imports my_ops.")


def _cmd_list(args: list[str]) -> int:
    kinds = [reg.kind for reg in _registries()]
    parser = argparse.ArgumentParser(
        prog="se-variants list",
        description="Every registered op, composition and preset: kind, name, what it does, and its options "
                    "(key=default (type)), wrapped to the terminal's width (100 columns when not a terminal).",
    )
    parser.add_argument("kinds", nargs="*", metavar="kind", help=f"only these kinds ({', '.join(kinds)})")
    _imports_option(parser)
    ns = parser.parse_args(args)
    import_registrations(ns.imports)
    for kind in ns.kinds:
        if kind not in kinds:
            raise SpecError(f"Unknown kind {kind!r}.{suggest(kind, kinds)} Available: {', '.join(kinds)}.")
    print("\n".join(list_lines(ns.kinds)))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# show


def _fill_part_names(spec: dict[str, Any]) -> dict[str, Any]:
    """Give a part set only by its options (``excite.reduction=8``) the composition's default name (``fc``), as a
    Hydra override edits the part the config already has."""
    name, options = split_block(spec)
    if name not in COMPOSE:
        return spec  # presets have no parts to fill; a bad name is reported by build_block
    defaults = COMPOSE.entry(name).default_options()
    for key, value in options.items():
        if isinstance(value, dict) and "name" not in value and isinstance(defaults.get(key), str):
            spec[key] = {"name": defaults[key], **value}
    return spec


def spec_from_overrides(tokens: Sequence[str]) -> Any:
    """Override tokens → the block spec ``show`` builds (None for ``block=none``).

    Either the spec's own keys (``cbam reduction=8``, ``name=cbam``, ``squeeze=max``), or the runner's layout,
    where ``block=...`` holds the block node and ``squeeze``/``excite``/``gate`` the parts of ``block=parts``.
    """
    keys = {"name", "block", *COMPOSE.entry(PARTS).options}
    for token in tokens:
        if "=" not in token and token.lstrip("+") in keys:
            raise SpecError(f"{token!r} needs a value: {token}=<name> (see `se-variants list`).")
    tree = parse_overrides(tokens)
    if "block" in tree:
        extra = sorted(k for k in tree if k != "block" and k not in PART_KEYS)
        if extra:
            raise SpecError(f"With block=..., the other keys are the parts {', '.join(PART_KEYS)}; got {extra}. "
                            f"Put block options under block (block.{extra[0]}=...).")
        block = tree["block"] if isinstance(tree["block"], dict) else {"name": tree["block"]}
        parts = [k for k in PART_KEYS if k in tree]
        if parts and block_name(block) != PARTS:
            raise SpecError(f"block={block_name(block)} chooses its own parts, so {parts[0]}=... would have no "
                            f"effect; use block=parts to compose parts.")
        tree = from_config({"block": block, **{k: tree[k] for k in parts}})
    return tree if tree is None else _fill_part_names(tree)


def _shape_arg(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[\s,x×()]+", text) if p]
    if not 3 <= len(parts) <= 5 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected N,C,L / N,C,H,W / N,C,D,H,W (3 to 5 positive ints, e.g. 2,64,32,32), got {text!r}")
    return tuple(int(p) for p in parts)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _record_shapes(block: nn.Module) -> tuple[list[tuple], list[tuple], list]:
    """Forward hooks that record the output of every squeeze op ((path, shape, Descriptor)) and every gate
    ((path, shape)); returns both lists and the hook handles."""
    descriptors: list[tuple[str, Any]] = []
    scales: list[tuple[str, Any]] = []
    handles = []
    for name, mod in block.named_modules():
        if isinstance(mod, Squeeze):
            handles.append(mod.register_forward_hook(
                lambda m, i, o, n=name: descriptors.append((n, tuple(o.shape), m.descriptor))))
        elif isinstance(mod, Gate):
            handles.append(mod.register_forward_hook(lambda m, i, o, n=name: scales.append((n, tuple(o.shape)))))
    return descriptors, scales, handles


def _cmd_show(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="se-variants show",
        description="Build a block from overrides and print its structure, parameters, FLOPs and shapes.",
        epilog="examples: se-variants show squeeze=max excite=conv1d --channels 64 --input 2,64,32,32 | "
               "se-variants show cbam reduction=8 | se-variants show block=cbam block.reduction=8 | "
               "se-variants show ecapa_se --input 4,512,200",
    )
    parser.add_argument("spec", nargs="*", help="overrides key=value (squeeze=max, excite.reduction=8, name=se)")
    parser.add_argument("--channels", "-c", type=int, help="C (default: C of --input, else 64)")
    parser.add_argument("--input", "-i", type=_shape_arg,
                        help="input shape N,C,L | N,C,H,W | N,C,D,H,W (default 2,C,32,32 for --dims 2)")
    parser.add_argument("--dims", "-d", type=int, choices=(1, 2, 3),
                        help="spatial dims of the input (default: from --input, else 2)")
    _imports_option(parser)
    ns = parser.parse_args(args)
    import_registrations(ns.imports)

    spec = spec_from_overrides(ns.spec)
    dims = ns.dims or (len(ns.input) - 2 if ns.input else 2)
    if ns.input and len(ns.input) - 2 != dims:
        raise SpecError(f"--input {_fmt_shape(ns.input)} has {len(ns.input) - 2} spatial dims but --dims is {dims}; "
                        f"make them agree (or drop --dims).")
    channels = ns.channels or (ns.input[1] if ns.input else 64)
    shape = ns.input or (2, channels, *DEFAULT_SPATIAL[dims])
    if shape[1] != channels:
        raise SpecError(f"--input has C={shape[1]} but the block is built for channels={channels}; make them agree.")
    if spec is None:
        raise SpecError("block=none is the baseline without an attention block: there is nothing to show.")
    block = build_block(spec, channels=channels, dims=dims).eval()

    k = getattr(block, "inputs", 1)
    k = k if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else 1
    inputs = tuple(torch.randn(shape) for _ in range(k))
    descriptors, scales, handles = _record_shapes(block)
    try:
        counter, out = counted_run(block, inputs)
    finally:
        for h in handles:
            h.remove()
    flops = counter.get_total_flops()
    parts = child_flops(block, counter)

    n_params = sum(p.numel() for p in block.parameters())
    n_train = sum(p.numel() for p in block.parameters() if p.requires_grad)
    n_buf = sum(b.numel() for b in block.buffers())
    resized = {f"{n}.gate".lstrip(".") for n, m in block.named_modules() if getattr(m, "resize", False) is True}

    shown = {"channels": channels, **({"dims": dims} if dims != 2 else {}), **spec}
    axes = ", ".join(["N", "S", "C'", *(f"{a.upper()}'" for a in SPATIAL_AXES[dims])])
    print(f"spec        {' '.join(f'{k}={format_value(v)}' for k, v in shown.items())}")
    print(repr(block))
    print(f"parameters  {n_params:,} ({n_train:,} trainable)" + (f"; buffers {n_buf:,} values" if n_buf else ""))
    inp = _fmt_shape(shape) + (f" × {k} inputs" if k > 1 else "")
    print(f"input       {inp} {str(inputs[0].dtype).replace('torch.', '')}")
    print(f"output      {_fmt_shape(out.shape)}")
    for name, dshape, desc in descriptors:
        where = f"  [{name}]" if name else ""
        print(f"descriptor  {_fmt_shape(dshape)} ({axes}): {desc.describe()}{where}")
    for name, sshape in scales:
        note = " (resized to the input size)" if name in resized else ""
        print(f"scale       {_fmt_shape(sshape)}{note}  [{name}]")
    if not descriptors and not scales:
        print("descriptor  - (no squeeze op or gate in this block)")
    masks = getattr(block, "mask_refusal", "")
    print("mask        " + ("yes: block(x, mask=m), m (N, *spatial) bool" if masks is None else f"no: {masks}"))
    print(f"FLOPs       {flops:,} (one forward of this input)")
    print(f"            counted by {FLOPS_COUNTED}")
    if len(parts) > 1:
        print("  by part   " + ", ".join(f"{name} {n:,}" for name, n in parts.items()))
    return 0


# ---------------------------------------------------------------------------------------------------------------


def main(command: str, args: list[str]) -> int:
    """Run ``se-variants list|show args``; returns the exit code (2 for a bad spec or arguments)."""
    try:
        if command == "list":
            return _cmd_list(list(args))
        if command == "show":
            return _cmd_show(list(args))
        print(f"se-variants: library_cli handles list and show, not {command!r}.", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # argparse: --help (0) or bad arguments (2, usage already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    except SpecError as err:
        print(f"se-variants {command}: {err}{_own_op_hint(err)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as err:  # a forward that refuses the input shape
        print(f"se-variants {command}: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `se-variants list | head`: the reader left; silence the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
