"""``se-variants list`` and ``se-variants show``: what the registries hold, and what a spec builds.

``list`` prints one line per registered squeeze / excite / gate op, composition and preset::

    se-variants list                  # everything
    se-variants list squeeze gate     # only these kinds

``show`` builds a block from a spec written as Hydra-style overrides (the names of Python and YAML) and prints
its module tree, parameter count, forward FLOPs, output shape and the descriptor and scale shapes::

    se-variants show squeeze=max excite=conv1d gate=sigmoid --channels 64 --input 2,64,32,32
    se-variants show preset=cbam reduction=8          # or just: se-variants show cbam reduction=8
    se-variants show excite.name=fc excite.reduction=8
    se-variants show excite='{name: fc, reduction: 8}'
    se-variants show block=cbam block.reduction=8       # the runner's Hydra overrides work too

Values are read like Hydra override values: ``8`` int, ``1e-5`` float, ``true``/``false``, ``null``, ``[a, b]``
lists, ``{k: v}`` mappings, quoted or bare strings. A bad spec prints its error ("did you mean ...") and exits 2.

``count_flops(module, *inputs)`` is the one place that counts FLOPs (``torch.utils.flop_counter``); the runner
reuses it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["main", "count_flops", "module_flops", "parse_value", "format_value", "parse_spec", "list_lines",
           "FLOPS_COUNTED"]

#: what ``count_flops`` counts, as printed by ``show``
FLOPS_COUNTED = (
    "torch.utils.flop_counter: 2 per multiply-add of matmuls, convolutions and attention; "
    "elementwise work (pooling, norms, activations, gates, the x·scale product) is not counted"
)


# ---------------------------------------------------------------------------------------------------------------
# FLOPs


def _pad4(shape: Sequence[int]) -> tuple[int, ...]:
    return (1,) * (4 - len(shape)) + tuple(shape)


def _cpu_sdpa_flops(query, key, value, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(_pad4(query), _pad4(key), _pad4(value))


def _cpu_sdpa_backward_flops(grad_out, query, key, value, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(_pad4(grad_out), _pad4(query), _pad4(key), _pad4(value))


def _extra_formulas() -> dict[Any, Any]:
    """Formulas torch's counter lacks: on CPU, ``scaled_dot_product_attention`` runs the op
    ``_scaled_dot_product_flash_attention_for_cpu``, which torch 2.x does not count (it would report 0)."""
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    extra = {}
    for op, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_sdpa_flops),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_sdpa_backward_flops),
    ):
        packet = getattr(aten, op, None)
        if packet is not None and packet not in flop_registry:
            extra[packet] = formula
    return extra


def _run_counted(module: nn.Module, inputs: tuple[Any, ...], backward: bool = False):
    """(FlopCounterMode after one call, the call's output)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_extra_formulas())
    if backward:
        with counter:
            out = module(*inputs)
            out.float().sum().backward()
    else:
        with torch.no_grad(), counter:
            out = module(*inputs)
    return counter, out


def count_flops(module: nn.Module, *inputs: Any, backward: bool = False) -> int:
    """FLOPs of one ``module(*inputs)`` call, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Counted: 2 per multiply-add of matmuls, convolutions and attention (``FLOPS_COUNTED``); elementwise ops are
    not. ``backward=True`` also runs ``out.sum().backward()`` and includes its FLOPs (inputs that should get
    gradients must have ``requires_grad``). The module's train/eval mode is left as it is.
    """
    return _run_counted(module, inputs, backward)[0].get_total_flops()


def module_flops(module: nn.Module, *inputs: Any) -> dict[str, int]:
    """Forward FLOPs of each direct child of ``module`` (by attribute name), as ``count_flops`` counts them."""
    return _child_flops(module, _run_counted(module, inputs)[0])


def _child_flops(module: nn.Module, counter: Any) -> dict[str, int]:
    counts = counter.get_flop_counts()
    root = type(module).__name__
    return {name: sum(counts.get(f"{root}.{name}", {}).values()) for name, _ in module.named_children()}


# ---------------------------------------------------------------------------------------------------------------
# Values and specs on the command line

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)


def _scalar(text: str) -> Any:
    if text.lower() in ("null", "~"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


class _Parser:
    """Recursive descent over the flow syntax of override values: scalars, [lists] and {mappings}."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str):
        from .registry import SpecError

        raise SpecError(
            f"Cannot read the value {self.text!r}: {what} at position {self.pos}. Values are written as in Hydra "
            f"overrides: 8, 0.5, true, null, avg, 'a string', [3, 5], {{name: fc, reduction: 8}} (quote the whole "
            f"argument for the shell: excite='{{name: fc, reduction: 8}}')."
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, stops: str) -> Any:
        ch = self.peek()
        if ch == "[":
            return self.sequence()
        if ch == "{":
            return self.mapping()
        if ch in ("'", '"'):
            return self.quoted(ch)
        return self.bare(stops)

    def sequence(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            items.append(self.value(",]"))
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return items
            if ch != ",":
                self.pos -= 1
                self.fail("expected ',' or ']'")

    def mapping(self) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            key = self.quoted(self.peek()) if self.peek() in ("'", '"') else self.bare(":,}", raw=True)
            if not key:
                self.fail("expected a key")
            if self.peek() != ":":
                self.fail(f"expected ':' after key {key!r}")
            self.pos += 1
            out[str(key)] = self.value(",}")
            ch = self.peek()
            self.pos += 1
            if ch == "}":
                return out
            if ch != ",":
                self.pos -= 1
                self.fail("expected ',' or '}'")

    def quoted(self, quote: str) -> str:
        start = self.pos = self.pos + 1
        chars = []
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            self.pos = start
            self.fail(f"unclosed quote {quote}")
        self.pos += 1
        return "".join(chars)

    def bare(self, stops: str, raw: bool = False) -> Any:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops + "[]{}":
            self.pos += 1
        text = self.text[start:self.pos].strip()
        if not text and not raw:
            self.fail("expected a value")
        return text if raw else _scalar(text)


def parse_value(text: str) -> Any:
    """One override value → Python: ``8`` → 8, ``1e-5`` → 1e-05, ``true`` → True, ``null`` → None,
    ``[3, 5]`` → [3, 5], ``{name: fc, reduction: 8}`` → dict, ``'8'`` → '8', anything else → the string."""
    parser = _Parser(text)
    value = parser.value("")
    if parser.peek():
        parser.fail("unexpected text after the value")
    return value


def format_value(value: Any) -> str:
    """Python → override syntax (the inverse of ``parse_value``): None → null, (1, 2) → [1, 2]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        plain = value and not re.search(r"[\s,:\[\]{}'\"]", value) and parse_value(value) == value
        return value if plain else repr(value)
    return repr(value)


def _put(spec: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``spec[a][b]... = value``. A part given by name (``excite=fc``) becomes ``{name: fc}`` when one of its
    options is set (``excite.reduction=8``); a name or mapping given for a part that already has options merges."""
    from .registry import SpecError

    node = spec
    for i, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str):
            child = node[key] = {"name": child}
        elif not isinstance(child, dict):
            raise SpecError(f"Cannot set {'.'.join(path)}: {'.'.join(path[:i + 1])} is {child!r}, not a mapping.")
        node = child
    last, old = path[-1], node.get(path[-1])
    if isinstance(old, dict) and isinstance(value, str):
        node[last] = {"name": value, **{k: v for k, v in old.items() if k != "name"}}
    elif isinstance(old, dict) and isinstance(value, dict):
        old.update(value)
    else:
        node[last] = value


def parse_spec(tokens: Sequence[str]) -> dict[str, Any]:
    """Override tokens → a block spec mapping for ``build_block``.

    ``key=value`` sets a key, ``a.b=value`` a nested one (a leading ``+``, Hydra's "append", is accepted); one
    bare word is a preset name (``cbam`` is ``preset=cbam``).
    """
    from . import COMPOSE
    from .registry import SpecError

    spec: dict[str, Any] = {}
    for token in tokens:
        key, eq, text = token.lstrip("+").partition("=")
        key = key.strip()
        if not eq:
            if key in COMPOSE.entry("block").options or key in ("preset", "type"):
                raise SpecError(f"{key!r} needs a value: {key}=<name> (see `se-variants list`).")
            if "preset" in spec or not key:
                raise SpecError(f"Expected key=value, got {token!r} (e.g. squeeze=max, excite.reduction=8).")
            spec["preset"] = key
            continue
        path = key.split(".")
        if not all(path):
            raise SpecError(f"Bad key {key!r} in {token!r}; keys look like squeeze or excite.reduction.")
        _put(spec, path, parse_value(text))
    return spec


def _hydra_block(spec: dict[str, Any]) -> dict[str, Any]:
    """The runner's Hydra group ``block`` (``block=cbam block.reduction=8``, ``block=parts``) → this spec's keys
    (``preset=cbam reduction=8``), so a training command's overrides can be pasted into ``show``."""
    from . import COMPOSE, PRESET
    from .registry import SpecError

    if "block" not in spec:
        return spec
    block = spec.pop("block")
    options = dict(block) if isinstance(block, dict) else {"name": block}
    name = options.pop("name", options.get("preset", "parts"))
    if name == "none":
        raise SpecError("block=none is the baseline without an attention block: there is nothing to show.")
    head = {}
    if name != "parts" and "preset" not in options:
        head["type" if name in COMPOSE and name not in PRESET else "preset"] = name
    return {**head, **spec, **options}


def _fill_part_names(spec: dict[str, Any]) -> dict[str, Any]:
    """Give a part set only by its options (``excite.reduction=8``) the composition's default name (``fc``), as a
    Hydra override would edit the part the config already has."""
    from . import COMPOSE

    kind = spec.get("type", "block")
    if "preset" in spec or not isinstance(kind, str) or kind not in COMPOSE:
        return spec  # presets have no parts to fill; a bad type is reported by build_block
    defaults = COMPOSE.entry(kind).default_options()
    for key, value in spec.items():
        if isinstance(value, dict) and "name" not in value and isinstance(defaults.get(key), str):
            spec[key] = {"name": defaults[key], **value}
    return spec


# ---------------------------------------------------------------------------------------------------------------
# list


def _registries() -> list[Any]:
    from . import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE

    return [SQUEEZE, EXCITE, GATE, COMPOSE, PRESET]


def _options_text(entry: Any) -> str:
    from .registry import describe_type

    types_ = entry.option_types()
    parts = [f"{name}={format_value(default)} ({describe_type(types_[name])})"
             for name, default in entry.default_options().items()]
    return "; ".join(parts) if parts else "(none)"


def list_lines(kinds: Sequence[str] = ()) -> list[str]:
    """One line per registered entry: kind, name, summary, then ``options: key=default (type); ...``."""
    rows = [(reg.kind, name, reg.entry(name)) for reg in _registries() if not kinds or reg.kind in kinds
            for name in reg.names()]
    kind_w = max((len(k) for k, _, _ in rows), default=0)
    name_w = max((len(n) for _, n, _ in rows), default=0)
    return [f"{kind:<{kind_w}}  {name:<{name_w}}  {entry.summary}  options: {_options_text(entry)}"
            for kind, name, entry in rows]


def _cmd_list(args: list[str]) -> int:
    from .registry import SpecError, suggest

    kinds = [reg.kind for reg in _registries()]
    parser = argparse.ArgumentParser(
        prog="se-variants list",
        description="Every registered op, composition and preset: kind, name, summary, options: key=default (type).",
    )
    parser.add_argument("kinds", nargs="*", metavar="kind", help=f"only these kinds ({', '.join(kinds)})")
    ns = parser.parse_args(args)
    for kind in ns.kinds:
        if kind not in kinds:
            raise SpecError(f"Unknown kind {kind!r}.{suggest(kind, kinds)} Available: {', '.join(kinds)}.")
    print("\n".join(list_lines(ns.kinds)))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# show


def _shape_arg(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[\s,x×()]+", text) if p]
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected N,C,H,W (4 positive ints, e.g. 2,64,32,32), got {text!r}")
    return tuple(int(p) for p in parts)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _record_shapes(block: nn.Module) -> tuple[list[tuple], list[tuple], list]:
    """Forward hooks that record the output of every squeeze op ((path, shape, Descriptor)) and every gate
    ((path, shape)); returns both lists and the hook handles."""
    from .gate import Gate
    from .squeeze import Squeeze

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
    from .factory import build_block
    from .registry import SpecError

    parser = argparse.ArgumentParser(
        prog="se-variants show",
        description="Build a block from overrides and print its structure, parameters, FLOPs and shapes.",
        epilog="examples: se-variants show squeeze=max excite=conv1d --channels 64 --input 2,64,32,32 | "
               "se-variants show preset=cbam reduction=8 | se-variants show excite.name=fc excite.reduction=8",
    )
    parser.add_argument("spec", nargs="*", help="overrides key=value (squeeze=max, excite.reduction=8, preset=se)")
    parser.add_argument("--channels", "-c", type=int, help="C (default: C of --input, else 64)")
    parser.add_argument("--input", "-i", type=_shape_arg, help="input shape N,C,H,W (default 2,C,32,32)")
    ns = parser.parse_args(args)

    spec = _fill_part_names(_hydra_block(parse_spec(ns.spec)))
    channels = spec.pop("channels", None)
    for fallback in (ns.channels, ns.input[1] if ns.input else None, 64):
        channels = fallback if channels is None else channels
    shape = ns.input or (2, channels, 32, 32)
    if shape[1] != channels:
        raise SpecError(f"--input has C={shape[1]} but the block is built for channels={channels}; make them agree.")
    block = build_block(spec, channels=channels).eval()

    k = getattr(block, "inputs", 1)
    k = k if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else 1
    inputs = tuple(torch.randn(shape) for _ in range(k))
    descriptors, scales, handles = _record_shapes(block)
    try:
        counter, out = _run_counted(block, inputs)
    finally:
        for h in handles:
            h.remove()
    flops = counter.get_total_flops()
    parts = _child_flops(block, counter)

    n_params = sum(p.numel() for p in block.parameters())
    n_train = sum(p.numel() for p in block.parameters() if p.requires_grad)
    n_buf = sum(b.numel() for b in block.buffers())
    resized = {f"{n}.gate".lstrip(".") for n, m in block.named_modules() if getattr(m, "resize", False) is True}

    shown = {"channels": channels, **spec}
    print(f"spec        {' '.join(f'{k}={format_value(v)}' for k, v in shown.items())}")
    print(repr(block))
    print(f"parameters  {n_params:,} ({n_train:,} trainable)" + (f"; buffers {n_buf:,} values" if n_buf else ""))
    inp = _fmt_shape(shape) + (f" × {k} inputs" if k > 1 else "")
    print(f"input       {inp} {str(inputs[0].dtype).replace('torch.', '')}")
    print(f"output      {_fmt_shape(out.shape)}")
    for name, dshape, desc in descriptors:
        where = f"  [{name}]" if name else ""
        print(f"descriptor  {_fmt_shape(dshape)} (N, S, C', H', W'): {desc.describe()}{where}")
    for name, sshape in scales:
        note = " (resized to H × W)" if name in resized else ""
        print(f"scale       {_fmt_shape(sshape)}{note}  [{name}]")
    if not descriptors and not scales:
        print("descriptor  - (no squeeze op or gate in this block)")
    print(f"FLOPs       {flops:,} (one forward of this input)")
    print(f"            counted by {FLOPS_COUNTED}")
    if len(parts) > 1:
        print("  by part   " + ", ".join(f"{name} {n:,}" for name, n in parts.items()))
    return 0


# ---------------------------------------------------------------------------------------------------------------


def main(command: str, args: list[str]) -> int:
    """Run ``se-variants list|show args``; returns the exit code (2 for a bad spec or arguments)."""
    from .registry import SpecError

    try:
        if command == "list":
            return _cmd_list(list(args))
        if command == "show":
            return _cmd_show(list(args))
        print(f"se-variants: inspect_cli handles list and show, not {command!r}.", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # argparse: --help (0) or bad arguments (2, usage already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    except SpecError as err:
        print(f"se-variants {command}: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # a forward that refuses the input shape
        print(f"se-variants {command}: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `se-variants list | head`: the reader left; silence the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
