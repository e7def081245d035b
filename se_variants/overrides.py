"""Override syntax on the command line: ``key=value`` tokens (``squeeze=max``, ``excite.reduction=8``,
``excite='{name: fc, reduction: 8}'``) → nested mappings, values read as Hydra reads them.

Values: ``8`` int, ``1e-5`` float, ``true``/``false``, ``null``, ``[a, b]`` lists, ``{k: v}`` mappings, quoted or
bare strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .registry import SpecError

__all__ = ["parse_value", "format_value", "parse_overrides"]

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
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        plain = value and not re.search(r"[\s,:\[\]{}'\"]", value) and parse_value(value) == value
        return value if plain else repr(value)
    return repr(value)


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``tree[a][b]... = value``. A part given by name (``excite=fc``) becomes ``{name: fc}`` when one of its
    options is set (``excite.reduction=8``); a name or mapping given for a part that already has options merges."""
    node = tree
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


def parse_overrides(tokens: Sequence[str], bare_key: str = "name") -> dict[str, Any]:
    """Override tokens → a nested mapping.

    ``key=value`` sets a key, ``a.b=value`` a nested one (a leading ``+``, Hydra's "append", is accepted); one
    bare word sets ``bare_key`` (``cbam`` is ``name=cbam``).
    """
    tree: dict[str, Any] = {}
    for token in tokens:
        key, eq, text = token.lstrip("+").partition("=")
        key = key.strip()
        if not eq:
            if bare_key in tree or not key:
                raise SpecError(f"Expected key=value, got {token!r} (e.g. squeeze=max, excite.reduction=8).")
            tree[bare_key] = key
            continue
        path = key.split(".")
        if not all(path):
            raise SpecError(f"Bad key {key!r} in {token!r}; keys look like squeeze or excite.reduction.")
        _put(tree, path, parse_value(text))
    return tree
