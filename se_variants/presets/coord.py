"""``coord``: coordinate attention (Hou et al. 2021), for 2-D and 3-D inputs."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..compose import checks
from ..descriptor import SPATIAL_AXES, check_dims
from ..excite.base import hidden_width, make_activation
from ..excite.fc import Activation
from ..norm import BatchNorm1d
from ..registry import GATE, PRESET, SpecError

__all__ = ["CoordinateAttention"]


@PRESET.register("coord")
class CoordinateAttention(nn.Module):
    """Coordinate attention: for each spatial axis, pool every other spatial axis (2-D: along W, keeping H, and
    along H, keeping W), concat along the kept axis → shared 1×1 conv C→mip → BN → h-swish → split → 1×1 conv
    mip→C per axis → sigmoid each → x · a_w · a_h (3-D: x · a_w · a_h · a_d).

    Defaults follow the official code: mip = max(8, C // 32), biases on all convs. timm ``CoordAttn`` uses no
    biases and mip = make_divisible(C/16 · 2/3, 8): pass ``bias=False, hidden=<its rd_channels>``. A 1-D input
    has no second axis to pool along, so dims=1 is refused.

    Args:
        channels: C.
        dims: 2 or 3.
        reduction, min_hidden, hidden: mip = max(min_hidden, C // reduction) (official: 32, 8), or ``hidden``.
        bias: biases on the 1×1 convs.
        act: the activation after the shared conv (official: h-swish).
        gate: sigmoid (official) or hard_sigmoid.

    Shapes: (N, C, H, W) → (N, C, H, W); (N, C, D, H, W) → same. The per-axis scales are (N, C, H, 1) and
    (N, C, 1, W) (3-D: (N, C, D, 1, 1), ...).
    """

    mask_refusal = "its directional pools average padded positions into the valid rows and columns"

    def __init__(
        self,
        channels: int,
        dims: int = 2,
        *,
        reduction: float = 32,
        min_hidden: int = 8,
        hidden: int | None = None,
        bias: bool = True,
        act: Activation = "hswish",
        gate: Literal["sigmoid", "hard_sigmoid"] = "sigmoid",
    ):
        super().__init__()
        self.channels = channels
        self.dims = check_dims(dims)
        if self.dims == 1:
            raise SpecError("coord: coordinate attention pools along one spatial axis to keep another, and a 1-D "
                            "input (N, C, L) has one; use dims 2 or 3, or se / eca / cbam for 1-D.")
        mip = hidden_width(channels, reduction, hidden, min_hidden=min_hidden)
        self.axes = SPATIAL_AXES[self.dims]
        self.conv1 = nn.Conv1d(channels, mip, 1, bias=bias)
        self.bn1 = BatchNorm1d(mip)
        self.act = make_activation(act)
        self.convs = nn.ModuleDict({a: nn.Conv1d(mip, channels, 1, bias=bias) for a in self.axes})
        self.gate = GATE.build(gate)
        spatial = range(2, 2 + self.dims)
        # per axis: the dims pooled to keep it
        self.pooled = [tuple(d for d in spatial if d != i) for i in spatial]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "CoordinateAttention", mask, self.mask_refusal)
        n, c = x.shape[0], x.shape[1]
        sizes = [x.shape[2 + i] for i in range(self.dims)]
        pooled = [x.mean(dims) for dims in self.pooled]  # (N, C, size of the kept axis) each
        parts = torch.split(self.act(self.bn1(self.conv1(torch.cat(pooled, 2)))), sizes, 2)
        scales = []
        for i, axis in enumerate(self.axes):  # the scale of axis i varies along it only: (N, C, 1.., size_i, ..1)
            shape = [sizes[j] if j == i else 1 for j in range(self.dims)]
            scales.append(self.gate(self.convs[axis](parts[i]).reshape(n, c, *shape)))
        out = x
        for s in reversed(scales):
            out = out * s
        return out

    def extra_repr(self) -> str:
        return f"{self.channels}" + (f", dims={self.dims}" if self.dims != 2 else "")
