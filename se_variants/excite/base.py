"""Base class of excitation ops and helpers shared by them."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..descriptor import SPATIAL_AXES, Descriptor
from ..registry import SpecError

__all__ = ["Excite", "ACTIVATIONS", "make_activation", "hidden_width", "make_divisible", "eca_kernel_size",
           "kept_view", "unkept_view", "refuse_unused"]

#: activation names → modules; ``leakyrelu`` has torch's (and MONAI's) default slope 0.01
ACTIVATIONS = {"relu": nn.ReLU, "hswish": nn.Hardswish, "silu": nn.SiLU, "gelu": nn.GELU, "leakyrelu": nn.LeakyReLU}


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def make_divisible(value: float, divisor: int, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``); if
    that lost more than (1 - round_limit) of the value, add one more multiple. The rule of torchvision
    MobileNetV3 (round_limit 0.9), timm (which passes round_limit 0 for SE-style modules) and X3D's
    ``round_width`` (round_limit 0.9)."""
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
    if not reduction > 0:
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


def refuse_unused(who: str, factory: Callable[..., Any], options: Mapping[str, Any], why: str) -> None:
    """SpecError when any of ``options`` differs from ``factory``'s default: an option that has no effect in this
    configuration (``why`` says which) is refused rather than silently ignored."""
    params = inspect.signature(factory).parameters
    changed = [k for k, v in options.items() if v != params[k].default]
    if changed:
        given = ", ".join(f"{k}={options[k]!r}" for k in changed)
        raise SpecError(f"{who}: {given} would have no effect {why}; drop {'it' if len(changed) == 1 else 'them'}.")


def kept_view(d: torch.Tensor, desc: Descriptor) -> torch.Tensor:
    """(N, S, C', *spatial') → (N, S, *kept sizes): drop the pooled singleton axes.

    When spatial axes are kept, the singleton axes are summed away (a copy, not a view): torch.compile with
    dynamic shapes cannot save a view with symbolic strides for backward (inductor fails with "cannot determine
    truth value of Relational"), and a conv saves its input. Channels-only descriptors have static strides and
    are reshaped (a view).
    """
    letters = ("c", *SPATIAL_AXES[desc.dims])
    pooled = tuple(i for i, a in enumerate(letters, start=2) if a not in desc.keeps)
    if desc.spatial and pooled:
        return d.sum(pooled)
    sizes = [d.shape[i] for i, a in enumerate(letters, start=2) if a in desc.keeps]
    return d.reshape(d.shape[0], d.shape[1], *sizes)


def unkept_view(y: torch.Tensor, d: torch.Tensor, desc: Descriptor) -> torch.Tensor:
    """(N, 1, *kept sizes) → logits (N, C', *spatial') of the descriptor ``d``'s shape."""
    return y.reshape(d.shape[0], *(d.shape[i] for i in range(2, 3 + desc.dims)))


class Excite(nn.Module):
    """An excitation op: descriptor (N, S, C', *spatial') → logits (N, C', *spatial').

    ``mixes_positions`` says whether a position's logit depends on other kept positions (a conv or attention
    over them, a grid resampling, BatchNorm statistics over them). Blocks whose descriptor keeps spatial axes
    refuse masks when it is True; an op of your own is assumed to mix them until it sets it to False.
    """

    mixes_positions = True

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
