"""Any timm model that takes an attention layer, with the block passed through :func:`se_variants.as_timm_attn`."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from ...factory import as_timm_attn
from ...registry import SpecError, suggest
from ..registries import MODEL
from .placement import make_block

__all__ = ["timm_model"]


@MODEL.register("timm")
def timm_model(
    in_channels: int,
    num_classes: int,
    block: Any = None,
    *,
    arch: str = "resnet18",
    attn_arg: Literal["block_args", "attn_layer"] = "block_args",
    drop_rate: float = 0.0,
) -> nn.Module:
    """``timm.create_model(arch)`` (random init, no download) with the block as its attention layer.

    Args:
        arch: a timm model name (``timm.list_models()``).
        attn_arg: how the model takes its attention layer: ``block_args`` (ResNet family:
            ``block_args=dict(attn_layer=...)``) or ``attn_layer`` (a top-level keyword, e.g. CSPNet, ByobNet).
        drop_rate: dropout before the classifier.

    With no block the attention layer is set to None, so models with built-in attention (seresnet*) become the
    plain baseline. Shapes: (N, in_channels, H, W) → (N, num_classes).
    """
    try:
        import timm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SpecError("model=timm needs timm: pip install 'se-variants[test]' or pip install timm.") from err
    if arch not in timm.list_models():
        raise SpecError(f"Unknown timm model {arch!r}.{suggest(arch, timm.list_models())} See timm.list_models().")
    if block is not None:
        make_block(block, 64)  # refuse multi-input blocks here, not deep inside timm
    attn = as_timm_attn(block) if block is not None else None
    extra = {"block_args": {"attn_layer": attn}} if attn_arg == "block_args" else {"attn_layer": attn}
    try:
        return timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_channels,
                                 drop_rate=drop_rate, **extra)
    except TypeError as err:
        other = "attn_layer" if attn_arg == "block_args" else "block_args"
        raise SpecError(
            f"timm model {arch!r} does not take {attn_arg} ({err}). Try model.attn_arg={other}, or a model of the "
            f"ResNet family (resnet18, resnet50, ...)."
        ) from None
