"""Base class of excitation ops and helpers shared by them."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..descriptor import Descriptor
from ..registry import SpecError

__all__ = ["Excite", "ACTIVATIONS", "make_activation", "hidden_width", "make_divisible", "eca_kernel_size",
           "kept_view", "unkept_view"]

ACTIVATIONS = {"relu": nn.ReLU, "hswish": nn.Hardswish, "silu": nn.SiLU, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def make_divisible(value: float, divisor: int, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``); if
    that lost more than (1 - round_limit) of the value, add one more multiple. The rule of torchvision
    MobileNetV3 (round_limit 0.9) and timm (which passes round_limit 0 for SE-style modules)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return new


def hidden_width(
    channels: int,
    reduction: float,
    hidden: int | None = None,
    divisor: int = 0,
    round_limit: float = 0.0,
    min_hidden: int = 1,
) -> int:
    """Bottleneck width. ``hidden`` wins when given; else ``channels // reduction`` (SENet paper, divisor 0), or
    ``make_divisible(channels / reduction, divisor, round_limit)`` (timm / torchvision, divisor >= 1;
    divisor 1 rounds half up). The result is at least ``min_hidden`` (SKNet: 32, coordinate attention: 8)."""
    if hidden is not None:
        if hidden < 1:
            raise SpecError(f"hidden must be >= 1, got {hidden}.")
        return hidden
    if reduction <= 0:
        raise SpecError(f"reduction must be > 0, got {reduction}.")
    if divisor < 0:
        raise SpecError(f"divisor must be 0 (paper floor C // r) or >= 1 (make divisible), got {divisor}.")
    if divisor == 0:
        width = int(channels // reduction)
    else:
        width = make_divisible(channels / reduction, divisor, round_limit=round_limit)
    return max(width, min_hidden, 1)


def eca_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """ECA-Net adaptive kernel: t = int(|(log2 C + b) / γ|), k = t if odd else t + 1 (Wang et al. 2020, Eq. 12
    and official code). timm additionally clamps k >= 3, which changes k only for C < 8."""
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


def kept_view(d: torch.Tensor, desc: Descriptor) -> torch.Tensor:
    """(N, S, C', H', W') → (N, S, *kept sizes): drop the pooled singleton axes."""
    pooled = tuple(dim for dim, a in zip((2, 3, 4), ("c", "h", "w")) if a not in desc.keeps)
    return d.squeeze(pooled) if pooled else d


def unkept_view(y: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """(N, 1, *kept sizes) → logits (N, C', H', W') of the descriptor ``d``'s shape."""
    return y.reshape(d.shape[0], d.shape[2], d.shape[3], d.shape[4])


class Excite(nn.Module):
    """An excitation op: descriptor (N, S, C', H', W') → logits (N, C', H', W')."""

    def __init__(self, descriptor: Descriptor):
        super().__init__()
        if not isinstance(descriptor, Descriptor):
            raise SpecError(f"an excitation op is built from a squeeze's Descriptor, got {descriptor!r}.")
        self.descriptor = descriptor

    def require_channels(self, name: str) -> None:
        """Refuse descriptors that pooled C away, naming the ops that do work on them."""
        if not self.descriptor.keeps_channels:
            kept = "×".join(a.upper() for a in self.descriptor.keeps)
            raise SpecError(
                f"excite '{name}' has weights sized by the channel count, but this squeeze pools C away and keeps "
                f"{kept}, whose size is only known at run time. Use excite 'conv1d' (a conv along the kept axes, "
                f"as CBAM's spatial branch), 'multi_conv', 'attn', 'conv_attn' or 'identity', or a squeeze that "
                f"keeps C (avg, max, h, w, ...)."
            )
