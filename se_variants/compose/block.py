"""The SE block (``parts``): squeeze → excite → gate → scale x (or add to x)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .. import mask as masks
from ..descriptor import check_dims
from ..excite import Excite
from ..registry import COMPOSE, EXCITE, GATE, SQUEEZE, SpecError
from ..squeeze import Squeeze
from . import checks

__all__ = ["SEBlock", "mask_refusal"]


def mask_refusal(squeeze: Squeeze, squeeze_name: str, excite: Excite, excite_name: str) -> str | None:
    """Why a block of this squeeze and excitation cannot honour a mask, or None when it can: the squeeze must
    compute its statistics over valid positions (or treat positions one by one), and when the descriptor keeps
    positions the excitation must not mix them."""
    if squeeze.mask_refusal is not None:
        return f"squeeze '{squeeze_name}': {squeeze.mask_refusal}"
    desc = squeeze.descriptor
    if desc.spatial and excite.mixes_positions:
        kept = "×".join(a.upper() for a in desc.keeps)
        return (f"excite '{excite_name}' mixes the kept positions ({kept}) -- a conv, attention, resampling or "
                f"BatchNorm statistics over them -- so padded positions would reach valid ones")
    return None


@COMPOSE.register("parts")
class SEBlock(nn.Module):
    """x · gate(excite(squeeze(x))), broadcasting the scale over the axes the squeeze pooled away.

    Args:
        channels: C of the input.
        dims: spatial dims of the input: 1 (N, C, L), 2 (N, C, H, W), 3 (N, C, D, H, W).
        squeeze, excite, gate: a registered name or a mapping ``{"name": ..., <options>}``.
        fuse: ``scale`` (x · s, SENet), ``add`` (x + s, GCNet's additive fusion; use gate ``identity``) or
            ``residual`` (x · s + x, MONAI's ``add_residual`` / ``ResidualSELayer``).
        float32: compute squeeze → gate in float32 under autocast (the scale is cast back to x's dtype).

    Shapes: (N, C, *spatial) → (N, C, *spatial), same dtype and memory format. ``forward(x, mask=None)``: with
    ``mask`` (N, *spatial) bool, True = valid, the squeeze's statistics use valid positions only (padded
    positions are scaled, not zeroed); ``mask_refusal`` says why a block cannot take one (None: it can).
    """

    def __init__(
        self,
        channels: int,
        dims: int = 2,
        *,
        squeeze: Any = "avg",
        excite: Any = "fc",
        gate: Any = "sigmoid",
        fuse: Literal["scale", "add", "residual"] = "scale",
        float32: bool = False,
    ):
        super().__init__()
        self.channels = channels
        self.dims = check_dims(dims)
        self.squeeze = SQUEEZE.build(squeeze, channels, dims=self.dims)
        self.excite = EXCITE.build(excite, self.squeeze.descriptor)
        self.gate = GATE.build(gate)
        if self.gate.across_branches:
            raise SpecError(
                f"gate '{GATE.split(gate)[0]}' normalises across K >= 2 branches, and an SE block has one. "
                f"Use it in a fusion block (name: fusion, or presets sk / multi_input), or pick sigmoid, "
                f"hard_sigmoid, tanh, relu or identity here."
            )
        self.fuse = fuse
        self.float32 = float32
        self.resize = self.squeeze.descriptor.reduced
        self.pass_mask = self.squeeze.takes_mask
        self.mask_refusal = mask_refusal(self.squeeze, SQUEEZE.split(squeeze)[0], self.excite,
                                         EXCITE.split(excite)[0])

    def scale(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The gate's output for x: (N, C', *spatial'), broadcastable to x."""
        d = self.squeeze(x, mask) if self.pass_mask else self.squeeze(x)
        s = self.gate(self.excite(d))
        if self.resize:
            s = F.interpolate(s, size=x.shape[2:], mode="nearest")
        return s

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "SEBlock", mask, self.mask_refusal)
        if self.float32:
            with torch.autocast(device_type=x.device.type, enabled=False):
                s = self.scale(x.float(), mask).to(x.dtype)
        else:
            s = self.scale(x, mask).to(x.dtype)  # float32 weights or buffers (cfc, dct) would promote a bf16 x
        if self.fuse == "add":
            return x + s
        s = masks.padding_detached(s, mask)  # NaN / ±inf padding would make the gradient of x · s NaN
        if self.fuse == "residual":
            return x * s + x
        return x * s

    def extra_repr(self) -> str:
        extra = (f", fuse={self.fuse!r}" if self.fuse != "scale" else "") + (", float32=True" if self.float32 else "")
        return f"{self.channels}" + (f", dims={self.dims}" if self.dims != 2 else "") + extra
