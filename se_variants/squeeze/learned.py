"""Learned squeezes: ``conv`` (GE-θ gather), ``linear`` (learned linear map of pooled positions), ``attn`` (GC
attention pooling), ``cluster`` (soft assignment to learned centroids)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..descriptor import AXES, Descriptor
from ..registry import SQUEEZE, SpecError
from ..norm import BatchNorm2d
from .base import Squeeze, pooled_dims

__all__ = ["GatherConv", "LinearPool", "AttnPool", "ClusterPool"]

#: Depth of the learned gather for global extent: three stride-2 depthwise convs (as GE-θ with extent 8),
#: then a global mean, so it accepts any input size (the paper's global GE-θ uses one full-map depthwise conv,
#: which needs a fixed input size).
GLOBAL_GATHER_CONVS = 3


@SQUEEZE.register("conv")
class GatherConv(Squeeze):
    """GE-θ gather (Hu et al. 2018): stride-2 depthwise 3×3 convs, each with BN, ReLU between them.

    Options:
        extent: 0 -- global: 3 convs then a global mean, descriptor (N, 1, C, 1, 1), any input size;
            2, 4, 8, 16 -- local: log2(extent) convs, descriptor (N, 1, C, ⌈H/e⌉, ⌈W/e⌉), the block resizes the
            scale back to H × W (nearest), as the paper does.

    Shapes: (N, C, H, W) → (N, 1, C, 1, 1) or (N, 1, C, H', W').
    """

    def __init__(self, channels: int, *, extent: int = 0):
        super().__init__(channels)
        if extent != 0 and (extent < 2 or extent & (extent - 1)):
            raise SpecError(f"conv squeeze: extent must be 0 (global) or a power of two >= 2, got {extent}.")
        self.extent = extent
        n = GLOBAL_GATHER_CONVS if extent == 0 else int(math.log2(extent))
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [
                nn.Conv2d(channels, channels, 3, stride=2, padding=1, groups=channels, bias=False),
                BatchNorm2d(channels),
            ]
            if i < n - 1:
                layers.append(nn.ReLU(inplace=True))
        self.gather = nn.Sequential(*layers)
        self.descriptor = (
            Descriptor(channels, 1, ("c",)) if extent == 0 else Descriptor(channels, 1, ("c", "h", "w"), True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gather(x)
        if self.extent == 0:
            y = y.mean((2, 3), keepdim=True)
        return y.unsqueeze(1)

    def extra_repr(self) -> str:
        return f"{self.channels}, extent={self.extent}"


@SQUEEZE.register("linear")
class LinearPool(Squeeze):
    """A learned linear map of pooled positions: x is average-pooled to a grid × grid map, and one linear map
    (shared by all channels, no bias) takes the grid² positions of each channel to ``dim`` numbers.

    Options:
        grid: side of the pooled position grid (any input size is adaptively pooled to it).
        dim: descriptor entries per channel (S). Initialised so that every entry starts as the plain mean.

    Shapes: (N, C, H, W) → (N, dim, C, 1, 1).
    """

    def __init__(self, channels: int, *, grid: int = 4, dim: int = 1):
        super().__init__(channels)
        if grid < 1 or dim < 1:
            raise SpecError(f"linear squeeze: grid and dim must be >= 1, got grid={grid}, dim={dim}.")
        self.grid = grid
        self.proj = nn.Linear(grid * grid, dim, bias=False)
        nn.init.constant_(self.proj.weight, 1.0 / (grid * grid))
        self.descriptor = Descriptor(channels, dim, ("c",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        y = F.adaptive_avg_pool2d(x, self.grid).reshape(n, c, self.grid * self.grid)
        return self.proj(y).transpose(1, 2).reshape(n, -1, c, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, grid={self.grid}, dim={self.proj.out_features}"


@SQUEEZE.register("attn")
class AttnPool(Squeeze):
    """GC attention pooling (Cao et al. 2019): a 1×1 conv C→1 gives one logit per position, softmax over the
    pooled positions, then the attention-weighted sum of x.

    Options:
        axes: ``hw`` (GCNet: softmax over all H·W positions), ``h`` (over W, keeps H) or ``w`` (over H, keeps W).

    Shapes: (N, C, H, W) → (N, 1, C, H', W').
    """

    def __init__(self, channels: int, *, axes: Literal["hw", "h", "w"] = "hw"):
        super().__init__(channels)
        self.axes = axes
        self.dims = pooled_dims(AXES[axes])
        self.logit = nn.Conv2d(channels, 1, 1)
        nn.init.kaiming_normal_(self.logit.weight, mode="fan_in", nonlinearity="relu")
        self.descriptor = Descriptor.from_axes(channels, 1, axes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.logit(x)
        if self.axes == "hw":
            n, c = x.shape[0], x.shape[1]
            w = a.reshape(n, 1, -1).softmax(-1)
            return torch.bmm(x.reshape(n, c, -1), w.transpose(1, 2)).reshape(n, 1, c, 1, 1)
        w = a.softmax(self.dims[0])
        return (x * w).sum(self.dims, keepdim=True).unsqueeze(1)

    def extra_repr(self) -> str:
        return f"{self.channels}, axes={self.axes!r}"


@SQUEEZE.register("cluster")
class ClusterPool(Squeeze):
    """Soft clustering of positions: each position's C-vector is softly assigned to K learned centroids
    (softmax over K of a 1×1 conv C→K); descriptor k of channel c is the assignment-weighted mean of x over H·W.

    Options:
        clusters: K, descriptors per channel (S = K).

    Shapes: (N, C, H, W) → (N, K, C, 1, 1).
    """

    def __init__(self, channels: int, *, clusters: int = 4):
        super().__init__(channels)
        if clusters < 1:
            raise SpecError(f"cluster squeeze: clusters must be >= 1, got {clusters}.")
        self.assign = nn.Conv2d(channels, clusters, 1)
        self.descriptor = Descriptor(channels, clusters, ("c",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        a = self.assign(x).reshape(n, -1, x.shape[2] * x.shape[3]).softmax(1)  # (N, K, HW)
        a = a / (a.sum(-1, keepdim=True) + 1e-6)  # weighted mean over positions
        return torch.bmm(a, x.reshape(n, c, -1).transpose(1, 2)).reshape(n, -1, c, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, clusters={self.assign.out_channels}"
