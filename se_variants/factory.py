"""``build_block`` and ``as_timm_attn``: from a block spec (see :mod:`se_variants.spec`) to a module."""

from __future__ import annotations

from typing import Any

from torch import nn

from .descriptor import check_dims
from .registry import COMPOSE, EXCITE, GATE, NONE, PRESET, SQUEEZE, SpecError, suggest
from .spec import split_block

__all__ = ["build_block", "as_timm_attn", "TimmAttn"]


def _unknown_block(name: str) -> SpecError:
    names = COMPOSE.names() + PRESET.names() + [NONE]
    part = next((reg.kind for reg in (SQUEEZE, EXCITE, GATE) if name in reg), None)
    hint = (f" '{name}' is {'an' if part[0] in 'aeiou' else 'a'} {part} op: parts go under squeeze/excite/gate, "
            f"e.g. build_block(channels=64, {part}={name!r})." if part else
            " To compose parts, pass squeeze=/excite=/gate= (e.g. build_block(channels=64, squeeze='max')).")
    return SpecError(
        f"Unknown block {name!r}.{suggest(name, names)} Presets: {', '.join(PRESET.names())}; compositions: "
        f"{', '.join(COMPOSE.names())}; or {NONE} (no block).{hint}"
    )


def build_block(spec: Any = None, *, channels: int, dims: int = 2, **options: Any) -> nn.Module:
    """Build a channel-attention block from a block spec.

    ``spec`` is a block name or a mapping ``{"name": ..., <options>}`` (see :mod:`se_variants.spec`); keyword
    ``options`` are merged into it:

    * a preset: ``build_block("se", channels=64, reduction=8)``, ``build_block({"name": "cbam", "reduction": 8},
      channels=64)``;
    * parts (the default name ``parts``): ``build_block(channels=64, squeeze="max", excite="conv1d")`` (defaults:
      squeeze ``avg``, excite ``fc`` with reduction 16, gate ``sigmoid`` -- plain SE);
    * a composition: ``{"name": "serial", "blocks": [spec, ...]}``, ``{"name": "parallel", "blocks": [...],
      "combine": "mean"}``, ``{"name": "fusion", "inputs": 2, ...}``;
    * ``"none"``: no block (an ``nn.Identity``).

    Args:
        spec: the block spec.
        channels: C of the input.
        dims: spatial dims of the input: 1 (N, C, L), 2 (N, C, H, W; the default) or 3 (N, C, D, H, W).
        options: options merged into the spec.

    Shapes: the block maps (N, C, *spatial) to the same shape (fusion blocks take K such inputs); it takes an
    optional ``mask`` (N, *spatial) bool (True = valid) for padded batches where its ops can honour one.
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise SpecError(f"channels must be a positive int, got {channels!r}.")
    dims = check_dims(dims)
    name, opts = split_block(spec, options)
    if name == NONE:
        if opts:
            raise SpecError(f"'{NONE}' is no block, so it takes no options, got {sorted(opts)}.")
        return nn.Identity()
    if name in COMPOSE:
        registry = COMPOSE
    elif name in PRESET:
        registry = PRESET
    else:
        raise _unknown_block(name)
    for key in getattr(registry.get(name), "block_lists", ()):
        if key in opts:
            children = opts[key]
            if not isinstance(children, (list, tuple)):
                raise SpecError(f"{name}: '{key}' is a list of block specs, got {children!r}.")
            opts[key] = tuple(build_block(child, channels=channels, dims=dims) for child in children)
    return registry.build(name, channels, dims=dims, **opts)


class TimmAttn:
    """A factory timm can call as ``attn_layer(channels, device=..., dtype=...)`` (2-D blocks)."""

    def __init__(self, spec: Any = None, **options: Any):
        self.spec, self.options = split_block(spec, options)
        build_block(self.spec, channels=64, **self.options)  # fail now, not deep inside timm's model builder

    def __call__(self, channels: int, device: Any = None, dtype: Any = None, **kwargs: Any) -> nn.Module:
        block = build_block(self.spec, channels=channels, **{**self.options, **kwargs})
        if device is not None or dtype is not None:
            block = block.to(device=device, dtype=dtype)
        return block

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"as_timm_attn({self.spec!r}{opts})"


def as_timm_attn(spec: Any = None, **options: Any) -> TimmAttn:
    """A callable for timm's ``attn_layer``: ``timm.create_model("resnet50",
    block_args=dict(attn_layer=as_timm_attn("eca")))``. Takes the same spec as :func:`build_block`."""
    return TimmAttn(spec, **options)
