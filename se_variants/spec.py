"""The block spec grammar: one way to name a block in Python, YAML, on the command line and in results.

A **block spec** is

* a block name: ``"cbam"`` (shorthand for ``{"name": "cbam"}``), or
* a mapping ``{"name": <block name>, <option>: <value>, ...}`` (an OmegaConf DictConfig works too); without
  ``name`` it is ``parts``.

Block names are one namespace: the presets (``se``, ``cbam``, ...), the compositions (``parts``: an SE block from
``squeeze`` / ``excite`` / ``gate``; ``serial`` / ``parallel`` with ``blocks``: a list of block specs;
``fusion``) and ``none``, no block (the baseline). A **part spec** (the value of ``squeeze``, ``excite``,
``gate``) is a name or ``{"name": <op>, <option>: <value>, ...}`` -- the same key.

The runner's configs hold the same spec in two places: the ``block`` node (``{name: cbam, reduction: 8}``,
``{name: parts, fuse: scale}``, ``{name: none}``) and, for ``parts``, the top-level ``squeeze``, ``excite`` and
``gate`` nodes (so that ``squeeze=max`` is a Hydra group choice). :func:`from_config` joins them; it is the only
translation there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import NONE, SpecError, spec_to_dict

__all__ = ["NONE", "PARTS", "PART_KEYS", "split_block", "block_name", "is_baseline", "from_config"]

#: the composition name of an SE block built from parts (the default when a spec has no name)
PARTS = "parts"
#: the keys of a ``parts`` block that hold part specs (and the runner's config groups of the same names)
PART_KEYS = ("squeeze", "excite", "gate")
_LEGACY_KEYS = ("preset", "type")


def split_block(spec: Any = None, options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """A block spec and extra keyword ``options`` → (block name, options). Raises SpecError for a spec that is
    not a name or a mapping, and for the retired discriminator keys ``preset`` and ``type``."""
    spec = spec_to_dict(spec)
    opts = {k: spec_to_dict(v) for k, v in (options or {}).items()}
    if spec is None:
        spec = {}
    if isinstance(spec, str):
        if "name" in opts:
            raise SpecError(f"The block is named twice: {spec!r} and name={opts['name']!r}; give one.")
        return spec, opts
    if not isinstance(spec, Mapping):
        raise SpecError(f"A block spec is a block name or a mapping {{'name': ..., <options>}}, got {spec!r} "
                        f"({type(spec).__name__}).")
    merged = {**spec, **opts}
    for key in _LEGACY_KEYS:
        if key in merged:
            raise SpecError(
                f"A block spec names its block with 'name', for presets and compositions alike; got "
                f"{key}={merged[key]!r}. Write {{'name': {merged[key]!r}, ...}} instead."
            )
    name = merged.pop("name", PARTS)
    if not isinstance(name, str):
        raise SpecError(f"A block's name is a string (a preset, a composition or none), got {name!r}.")
    return name, merged


def block_name(spec: Any) -> str:
    """The block name of a spec: ``"cbam"`` for ``"cbam"`` and ``{"name": "cbam", ...}``, ``parts`` without one."""
    return split_block(spec)[0]


def is_baseline(spec: Any) -> bool:
    """True for the no-attention baseline: the spec ``none`` (or ``{"name": "none"}``), or no spec (None)."""
    return spec is None or block_name(spec) == NONE


def from_config(cfg: Mapping[str, Any]) -> Any:
    """The :func:`se_variants.build_block` spec of a config laid out as the runner's (and ``se-variants show``'s):
    ``{"block": {"name": ..., <options>}, "squeeze": ..., "excite": ..., "gate": ...}``. None for ``none``.

    For ``parts`` the part nodes join the block's options; any other block chooses its own parts, so the part
    nodes (present in every composed runner config) are not used.
    """
    cfg = spec_to_dict(cfg)
    block = cfg.get("block")
    if block is None:
        block = {"name": PARTS}
    name, options = split_block(block)
    if name == NONE:
        if options:
            raise SpecError(f"block=none is no block, so it takes no options, got {sorted(options)}.")
        return None
    if name == PARTS:
        parts = {key: cfg[key] for key in PART_KEYS if cfg.get(key) is not None}
        return {"name": name, **parts, **options}
    return {"name": name, **options}
