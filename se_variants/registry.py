"""Named registries of building blocks, with typed, validated options.

A registry maps a name to a factory (a class or a function). The place that defines a thing is the only place
that names it::

    @SQUEEZE.register("max", stats=("max",))      # one class may be registered under several names,
    @SQUEEZE.register("avg", stats=("avg",))      # each with its own default options
    class Pool(Squeeze): ...

    SQUEEZE.build("max", channels=64)                          # by name
    SQUEEZE.build({"name": "h", "stats": ["max"]}, channels=64) # by mapping (also an OmegaConf DictConfig)

User options are the factory's keyword-only parameters; positional parameters are *context* the library passes
itself (the channel count, the number of spatial dims, the descriptor a squeeze produces). Options are checked
before anything is built: an unknown name or key gets "did you mean" and the list of valid ones, a wrong type
names the expected type, a float must be finite.

The root registries are declared here: ``SQUEEZE``, ``EXCITE``, ``GATE`` (the parts) and ``COMPOSE``, ``PRESET``
(the blocks). Compositions and presets share one namespace of block names (a block spec names either by
``name``), together with the reserved name ``none`` (no block).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["Registry", "SpecError", "UnknownName", "import_registrations", "Entry", "suggest", "check_value",
           "spec_to_dict", "describe_type", "DEFAULT_DIMS", "SQUEEZE", "EXCITE", "GATE", "COMPOSE", "PRESET", "NONE"]

#: spatial dims a block is built for when none are given: (N, C, H, W) inputs
DEFAULT_DIMS = 2
#: the reserved block name of "no attention block" (the runner's baseline, ``block=none``)
NONE = "none"


class SpecError(ValueError):
    """A spec (name or options) that cannot be built. The message says what was wrong and what would work."""


class UnknownName(SpecError):
    """A name no entry of a registry has. ``kind`` and ``name`` say which, for the caller that knows how a user's
    own entries come in (the runner's ``imports=[...]``, ``--imports`` of ``se-variants show``)."""

    def __init__(self, message: str, kind: str = "", name: str = ""):
        super().__init__(message)
        self.kind, self.name = kind, name


def import_registrations(modules: Sequence[str]) -> None:
    """Import ``modules`` so that their registrations run (your own ops: ``@SQUEEZE.register("rms")``), found on
    ``sys.path`` or in the current folder (as ``python -m`` would). A module that is missing, does not parse or
    raises is a SpecError naming it."""
    if modules and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    for name in modules:
        try:
            importlib.import_module(str(name))
        except ModuleNotFoundError as err:
            raise SpecError(f"cannot import {name!r} ({err}). Is it installed, or on PYTHONPATH?") from None
        except SyntaxError as err:
            raise SpecError(f"{name!r} has a syntax error: {err.msg} ({err.filename}, line {err.lineno}). Fix the "
                            f"module, or leave it out.") from None
        except Exception as err:  # the module raised while being imported
            raise SpecError(f"importing {name!r} raised {type(err).__name__}: {err}. Fix the module, or leave it "
                            f"out.") from None


def suggest(word: str, choices: list[str]) -> str:
    """' Did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and issubclass(tp, Mapping):
        return "mapping"
    if isinstance(tp, type) and tp.__module__.startswith("torch.nn") and tp.__name__ == "Module":
        return "block spec"  # compositions take built blocks; a spec lists block specs, build_block builds them
    return getattr(tp, "__name__", str(tp))


def check_value(value: Any, tp: Any) -> Any:
    """Return ``value`` converted to type ``tp`` (lists → tuples, ints → floats), or raise TypeError."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise TypeError(f"expected one of {_type_name(tp)}, got {value!r}")
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            try:
                return check_value(value, arg)
            except TypeError as err:
                errors.append(str(err))
        finite = [e for e in errors if e.startswith("expected a finite float")]
        raise TypeError(finite[0] if finite else f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) and not _is_listlike(value):
            raise TypeError(f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return tuple(check_value(v, args[0]) if args else v for v in value)
    if tp is type(None):
        if value is None:
            return None
        raise TypeError(f"expected None, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"expected bool, got {value!r} ({type(value).__name__})")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(f"expected int, got {value!r} ({type(value).__name__})")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise TypeError(f"expected a finite float, got {value!r}")
            return float(value)
        raise TypeError(f"expected float, got {value!r} ({type(value).__name__})")
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError(f"expected str, got {value!r} ({type(value).__name__})")
    if isinstance(tp, type) and issubclass(tp, Mapping):
        if isinstance(value, Mapping) or _is_maplike(value):
            return value
        raise TypeError(f"expected a mapping, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise TypeError(f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


#: a sentence ends at . ! ? followed by a capital letter or a backquote, except after "e.g.", "i.e." and "et al."
_SENTENCE_END = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<! al\.)(?<=[.!?])\s+(?=[A-Z`])")


def _is_listlike(value: Any) -> bool:
    return type(value).__name__ == "ListConfig"


def _is_maplike(value: Any) -> bool:
    return type(value).__name__ == "DictConfig"


def spec_to_dict(spec: Any) -> Any:
    """Turn OmegaConf containers (and nested ones) into plain dicts/lists; leave other values alone."""
    if _is_maplike(spec) or _is_listlike(spec):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(spec, resolve=True)
    return spec


@dataclass
class Entry:
    """One registered name: its factory, the defaults the registration adds, and its documented options."""

    name: str
    factory: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, inspect.Parameter]:
        """The user options (keyword-only parameters) with their defaults after the registration's defaults."""
        sig = inspect.signature(self.factory)
        return {n: p for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @property
    def context(self) -> tuple[str, ...]:
        """Parameters the library passes itself (positional: channels, dims, descriptor, branches)."""
        sig = inspect.signature(self.factory)
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return tuple(n for n, p in sig.parameters.items() if p.kind in kinds)

    def option_types(self) -> dict[str, Any]:
        target = self.factory.__init__ if inspect.isclass(self.factory) else self.factory
        hints = typing.get_type_hints(target)
        return {n: hints.get(n, Any) for n in self.options}

    def default_options(self) -> dict[str, Any]:
        """Every option with the value it takes when the user gives none."""
        out = {n: p.default for n, p in self.options.items()}
        out.update(self.defaults)
        return out

    @property
    def summary(self) -> str:
        """What this name builds, on one line: the first sentence of the docstring's first paragraph -- or, when
        the factory's class itself defines ``summary_for(**options)`` (one class under several names, each with its
        own defaults: the pooling squeezes), what it says for this name's default options. A subclass describes
        itself (its docstring) unless it defines its own."""
        if inspect.isclass(self.factory) and "summary_for" in vars(self.factory):
            return self.factory.summary_for(**self.default_options())
        doc = (inspect.getdoc(self.factory) or "").strip()
        paragraph = " ".join(doc.split("\n\n")[0].split())
        return _SENTENCE_END.split(paragraph, maxsplit=1)[0]


class Registry:
    """Names → factories for one kind of thing (``squeeze``, ``excite``, ``gate``, ``composition``, ``preset``).

    Args:
        kind: what the registry holds, as named in messages.
        reserved: names nobody may register (the block name ``none``).
    """

    def __init__(self, kind: str, reserved: tuple[str, ...] = ()):
        self.kind = kind
        self.reserved = tuple(reserved)
        self._entries: dict[str, Entry] = {}
        self._peers: list[Registry] = []

    def share_names(self, other: "Registry") -> None:
        """Make this registry and ``other`` one namespace: a name registered in one cannot be registered in the
        other (compositions and presets are both named by a block spec's ``name``)."""
        self._peers.append(other)
        other._peers.append(self)

    def register(self, name: str, **defaults: Any) -> Callable[[Any], Any]:
        """Decorator: register ``obj`` under ``name``; ``defaults`` override its keyword defaults for this name."""

        def deco(obj: Any) -> Any:
            if not isinstance(name, str) or not name:
                raise SpecError(f"{self._article()} {self.kind} name must be a non-empty string, got {name!r}.")
            if name in self.reserved:
                raise SpecError(f"'{name}' is a reserved {self.kind} name; pick another name for "
                                f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}.")
            for peer in self._peers:
                if name in peer:
                    prev = peer.get(name)
                    raise SpecError(
                        f"'{name}' is already a {peer.kind} (registered by {prev.__module__}.{prev.__qualname__}); "
                        f"{self.kind}s and {peer.kind}s share one namespace of block names, so pick another name "
                        f"for {getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}."
                    )
            if name in self._entries:
                prev = self._entries[name].factory
                raise SpecError(
                    f"{self.kind} '{name}' is already registered by {prev.__module__}.{prev.__qualname__}; "
                    f"pick another name for {getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}."
                )
            entry = Entry(name, obj, dict(defaults))
            unknown = set(defaults) - set(entry.options)
            if unknown:
                raise SpecError(f"Registration of {self.kind} '{name}' sets unknown options {sorted(unknown)}.")
            self._entries[name] = entry
            return obj

        return deco

    def unregister(self, name: str) -> Entry:
        """Remove ``name`` and return its entry (for tests and interactive sessions that register a throwaway op)."""
        entry = self.entry(name)
        del self._entries[name]
        return entry

    def _article(self) -> str:
        return "An" if self.kind[0] in "aeiou" else "A"

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        if not isinstance(name, str) or name not in self._entries:
            names = self.names()
            raise UnknownName(
                f"Unknown {self.kind} {name!r}.{suggest(str(name), names)} Available: {', '.join(names)}.",
                self.kind, str(name))
        return self._entries[name]

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``."""
        return self.entry(name).factory

    def split(self, spec: Any, options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """``spec`` (a name or a mapping with ``name``) plus extra ``options`` → (name, merged options)."""
        spec = spec_to_dict(spec)
        opts: dict[str, Any] = {}
        if isinstance(spec, Mapping):
            spec = dict(spec)
            if "name" not in spec:
                raise SpecError(
                    f"{self._article()} {self.kind} mapping needs a 'name' key, got keys {sorted(spec)}. "
                    f"Available names: {', '.join(self.names())}."
                )
            name = spec.pop("name")
            opts.update(spec)
        elif isinstance(spec, str):
            name = spec
        else:
            raise SpecError(
                f"{self._article()} {self.kind} is given by a name or a mapping {{'name': ..., <options>}}, "
                f"got {spec!r}. "
                f"Available names: {', '.join(self.names())}."
            )
        opts.update(spec_to_dict(dict(options or {})))
        return name, opts

    def resolve(self, spec: Any, **options: Any) -> tuple[Entry, dict[str, Any]]:
        """Validate a spec: returns the entry and the complete, type-checked user options."""
        name, opts = self.split(spec, options)
        entry = self.entry(name)
        valid = entry.options
        types_ = entry.option_types()
        for key in opts:
            if key not in valid:
                avail = ", ".join(valid) or "(none)"
                raise SpecError(
                    f"Unknown option {key!r} for {self.kind} '{name}'."
                    f"{suggest(key, list(valid) + list(entry.context))} "
                    f"Options of '{name}': {avail}."
                )
        merged = {**entry.defaults, **opts}
        checked = {}
        for key, value in merged.items():
            try:
                checked[key] = check_value(spec_to_dict(value), types_[key])
            except TypeError as err:
                raise SpecError(f"Option {key!r} of {self.kind} '{name}': {err}.") from None
        for key, param in valid.items():
            if key not in checked and param.default is inspect.Parameter.empty:
                raise SpecError(f"{self.kind} '{name}' needs option {key!r} ({_type_name(types_[key])}).")
        return entry, checked

    def build(self, spec: Any, *context: Any, **options: Any) -> Any:
        """Build ``spec`` with ``context`` (e.g. ``channels``, ``dims``; positional or by keyword) and keyword
        ``options``: ``SQUEEZE.build("max", 64)``, ``SQUEEZE.build({"name": "h", "stats": ["max"]}, channels=64,
        dims=3)``.

        ``dims`` reaches factories that take it; one that does not (an op written for (N, C, H, W) only) builds
        for ``dims=2`` and is refused for other dims.
        """
        name, opts = self.split(spec)
        context_names = self.entry(name).context
        ctx = {k: options.pop(k) for k in list(options) if k in context_names}
        if "dims" in options and "dims" not in context_names:
            dims = options.pop("dims")
            if dims != DEFAULT_DIMS:
                raise SpecError(
                    f"{self.kind} '{name}' takes no 'dims': it is written for 2-D inputs (N, C, H, W), so it cannot "
                    f"be built for dims={dims}. Give its factory a dims parameter (see the built-in ops), or pick "
                    f"another {self.kind}."
                )
        entry, checked = self.resolve({"name": name, **opts}, **options)
        return entry.factory(*context, **ctx, **checked)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def describe_type(tp: Any) -> str:
    """Readable name of an option's type, as shown by ``se-variants list`` and in config files."""
    return _type_name(tp)


#: squeeze ops: x (N, C, *spatial) → descriptor (N, S, C', *spatial'); built as ``factory(channels, dims, **options)``
SQUEEZE = Registry("squeeze")
#: excitation ops: descriptor → logits (N, C', *spatial'); built as ``factory(descriptor, **options)``
EXCITE = Registry("excite")
#: gates: logits → scale, same shape; built as ``factory(**options)``
GATE = Registry("gate")
#: ways of composing blocks (``parts``: the SE block, ``serial``, ``parallel``, ``fusion``); built as
#: ``factory(channels, dims, **options)``
COMPOSE = Registry("composition", reserved=(NONE,))
#: presets (literature modules); built as ``factory(channels, dims, **options)``
PRESET = Registry("preset", reserved=(NONE,))
COMPOSE.share_names(PRESET)
