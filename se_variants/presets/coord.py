"""``coord``: coordinate attention (Hou et al. 2021)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..compose import checks
from ..excite.base import hidden_width, make_activation
from ..norm import BatchNorm2d
from ..registry import GATE, PRESET, SQUEEZE

__all__ = ["CoordinateAttention"]


@PRESET.register("coord")
class CoordinateAttention(nn.Module):
    """Coordinate attention: pool along W (squeeze ``h``, keeps H) and along H (squeeze ``w``, keeps W), concat
    along the spatial axis → shared 1×1 conv C→mip → BN → h-swish → split → 1×1 conv mip→C per direction →
    sigmoid each → x · a_h · a_w.

    Defaults follow the official code: mip = max(8, C // 32), biases on all convs. timm ``CoordAttn`` uses no
    biases and mip = make_divisible(C/16 · 2/3, 8): pass ``bias=False, hidden=<its rd_channels>``.

    Args:
        channels: C. Options: reduction (32), min_hidden (8), hidden (explicit mip), bias, act, gate.

    Shapes: (N, C, H, W) → (N, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: float = 32,
        min_hidden: int = 8,
        hidden: int | None = None,
        bias: bool = True,
        act: Literal["hswish", "relu", "silu", "gelu"] = "hswish",
        gate: Literal["sigmoid", "hard_sigmoid"] = "sigmoid",
    ):
        super().__init__()
        self.channels = channels
        mip = hidden_width(channels, reduction, hidden, min_hidden=min_hidden)
        self.pool_h = SQUEEZE.build("h", channels)
        self.pool_w = SQUEEZE.build("w", channels)
        self.conv1 = nn.Conv2d(channels, mip, 1, bias=bias)
        self.bn1 = BatchNorm2d(mip)
        self.act = make_activation(act)
        self.conv_h = nn.Conv2d(mip, channels, 1, bias=bias)
        self.conv_w = nn.Conv2d(mip, channels, 1, bias=bias)
        self.gate = GATE.build(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_input(x, self.channels, "CoordinateAttention")
        h, w = x.shape[2], x.shape[3]
        x_h = self.pool_h(x).squeeze(1)  # (N, C, H, 1)
        x_w = self.pool_w(x).squeeze(1).transpose(2, 3)  # (N, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], 2))))
        y_h, y_w = torch.split(y, [h, w], 2)
        a_h = self.gate(self.conv_h(y_h))
        a_w = self.gate(self.conv_w(y_w.transpose(2, 3)))
        return x * a_w * a_h
