"""``build_block`` and ``as_timm_attn``: from a spec (a preset name, parts, or a mapping) to a module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from .compose import COMPOSE
from .registry import PRESET, SpecError, spec_to_dict, suggest

__all__ = ["build_block", "as_timm_attn", "TimmAttn"]


def build_block(spec: Any = None, *, channels: int, **kwargs: Any) -> nn.Module:
    """Build a channel-attention block.

    ``spec`` is one of:

    * a preset name: ``build_block("se", channels=64, reduction=8)`` (keywords override the preset's options);
    * nothing, with parts as keywords: ``build_block(channels=64, squeeze="max", excite="conv1d")``
      (defaults: squeeze ``avg``, excite ``fc`` with reduction 16, gate ``sigmoid`` -- plain SE);
    * a mapping (or OmegaConf DictConfig) of the same: ``{"squeeze": "max", "excite": {"name": "fc",
      "reduction": 8}}``, ``{"preset": "cbam", "reduction": 8}``, or a composition ``{"type": "serial",
      "blocks": [...]}`` / ``{"type": "parallel", ...}`` / ``{"type": "fusion", "inputs": 2, ...}``.

    Shapes: the block maps (N, C, H, W) to (N, C, H, W) (fusion blocks take K such inputs).
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise SpecError(f"channels must be a positive int, got {channels!r}.")
    spec = spec_to_dict(spec)
    kwargs = {k: spec_to_dict(v) for k, v in kwargs.items()}
    if spec is None:
        spec = {}
    if isinstance(spec, str):
        if spec not in PRESET:
            names = PRESET.names()
            raise SpecError(
                f"Unknown preset {spec!r}.{suggest(spec, names)} Available presets: {', '.join(names)}. "
                f"To compose parts instead, pass squeeze=/excite=/gate= (e.g. build_block(channels=64, "
                f"squeeze='max'))."
            )
        return PRESET.build(spec, channels, **kwargs)
    if not isinstance(spec, Mapping):
        raise SpecError(
            f"A block spec is a preset name or a mapping, got {spec!r} ({type(spec).__name__})."
        )
    merged = {**spec, **kwargs}
    if "preset" in merged:
        name = merged.pop("preset")
        return PRESET.build(name, channels, **merged)
    kind = merged.pop("type", "block")
    if kind == "block" and "name" in merged:
        raise SpecError(
            f"A block spec names a preset with 'preset', not 'name' (got name={merged['name']!r}); "
            f"parts go under squeeze/excite/gate."
        )
    return COMPOSE.build(kind, channels, **merged)


class TimmAttn:
    """A factory timm can call as ``attn_layer(channels, device=..., dtype=...)``."""

    def __init__(self, spec: Any = None, **options: Any):
        self.spec = spec_to_dict(spec)
        self.options = {k: spec_to_dict(v) for k, v in options.items()}
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
