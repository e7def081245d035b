"""The SE block: squeeze → excite → gate → scale x (or add to x)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import EXCITE, GATE, SQUEEZE, SpecError
from . import checks

__all__ = ["SEBlock"]


class SEBlock(nn.Module):
    """x · gate(excite(squeeze(x))), broadcasting the scale over the axes the squeeze pooled away.

    Args:
        channels: C of the input.
        squeeze, excite, gate: a registered name or a mapping ``{"name": ..., <options>}``.
        fuse: ``scale`` (x · g, SENet) or ``add`` (x + g, GCNet's additive fusion; use gate ``identity``).
        float32: compute squeeze → gate in float32 under autocast (the scale is cast back to x's dtype).

    Shapes: (N, C, H, W) → (N, C, H, W), same dtype and memory format.
    """

    def __init__(
        self,
        channels: int,
        *,
        squeeze: Any = "avg",
        excite: Any = "fc",
        gate: Any = "sigmoid",
        fuse: Literal["scale", "add"] = "scale",
        float32: bool = False,
    ):
        super().__init__()
        self.channels = channels
        self.squeeze = SQUEEZE.build(squeeze, channels)
        self.excite = EXCITE.build(excite, self.squeeze.descriptor)
        self.gate = GATE.build(gate)
        if self.gate.across_branches:
            raise SpecError(
                f"gate '{GATE.split(gate)[0]}' normalises across K >= 2 branches, and an SE block has one. "
                f"Use it in a fusion block (type: fusion, or presets sk / seed_fusion), or pick sigmoid, "
                f"hard_sigmoid, tanh, relu or identity here."
            )
        self.fuse = fuse
        self.float32 = float32
        self.resize = self.squeeze.descriptor.reduced

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The gate's output for x: (N, C', H', W'), broadcastable to x."""
        s = self.gate(self.excite(self.squeeze(x)))
        if self.resize:
            s = F.interpolate(s, size=x.shape[-2:], mode="nearest")
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_input(x, self.channels, "SEBlock")
        if self.float32:
            with torch.autocast(device_type=x.device.type, enabled=False):
                s = self.scale(x.float()).to(x.dtype)
        else:
            s = self.scale(x).to(x.dtype)  # float32 weights or buffers (cfc, dct) would promote a bf16 x
        if self.fuse == "add":
            return x + s
        return x * s

    def extra_repr(self) -> str:
        extra = (", fuse='add'" if self.fuse == "add" else "") + (", float32=True" if self.float32 else "")
        return f"{self.channels}{extra}"
