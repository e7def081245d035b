"""Learned squeezes: ``conv`` (GE-θ gather), ``linear`` (learned linear map of pooled positions), ``attn`` (GC
attention pooling), ``cluster`` (soft assignment to learned centroids), ``proj`` (scSE's channel projection).
Each works on (N, C, L), (N, C, H, W) and (N, C, D, H, W) inputs (``dims`` 1, 2, 3)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .. import mask as masks
from ..descriptor import SPATIAL_AXES, Descriptor, pooled_axes
from ..norm import batch_norm
from ..registry import SQUEEZE, SpecError
from .base import Squeeze, spatial_dims, x_dims

__all__ = ["GatherConv", "LinearPool", "AttnPool", "ClusterPool", "ChannelProjection", "CONV", "ADAPTIVE_AVG_POOL"]

#: dims → convolution class
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
#: dims → adaptive average pooling
ADAPTIVE_AVG_POOL = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}

#: Depth of the learned gather for global extent: three stride-2 depthwise convs (as GE-θ with extent 8),
#: then a global mean, so it accepts any input size (the paper's global GE-θ uses one full-map depthwise conv,
#: which needs a fixed input size).
GLOBAL_GATHER_CONVS = 3


def _unit(dims: int) -> tuple[int, ...]:
    return (1,) * dims


@SQUEEZE.register("conv")
class GatherConv(Squeeze):
    """GE-θ gather (Hu et al. 2018): stride-2 depthwise 3×3 (3, 3×3×3) convs, each with BN, ReLU between them.

    Args:
        extent: 0 -- global: 3 convs then a global mean, descriptor (N, 1, C, 1, ...), any input size;
            2, 4, 8, 16 -- local: log2(extent) convs, descriptor (N, 1, C, ⌈H/e⌉, ...), the block resizes the
            scale back to the input size (nearest), as the paper does.

    Shapes: (N, C, *spatial) → (N, 1, C, 1, ...) or (N, 1, C, *⌈spatial/e⌉).
    """

    mask_refusal = "its strided convolutions mix padded and valid positions"

    def __init__(self, channels: int, dims: int = 2, *, extent: int = 0):
        super().__init__(channels, dims)
        if extent != 0 and (extent < 2 or extent & (extent - 1)):
            raise SpecError(f"conv squeeze: extent must be 0 (global) or a power of two >= 2, got {extent}.")
        self.extent = extent
        n = GLOBAL_GATHER_CONVS if extent == 0 else int(math.log2(extent))
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [
                CONV[self.dims](channels, channels, 3, stride=2, padding=1, groups=channels, bias=False),
                batch_norm(self.dims, channels),
            ]
            if i < n - 1:
                layers.append(nn.ReLU(inplace=True))
        self.gather = nn.Sequential(*layers)
        self.spatial = spatial_dims(self.dims)
        keeps = ("c",) if extent == 0 else ("c", *SPATIAL_AXES[self.dims])
        self.descriptor = Descriptor(channels, 1, keeps, reduced=extent != 0, dims=self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gather(x)
        if self.extent == 0:
            y = y.mean(self.spatial, keepdim=True)
        return y.unsqueeze(1)

    def extra_repr(self) -> str:
        return f"{self.channels}, extent={self.extent}" + self._dims_repr()


@SQUEEZE.register("linear")
class LinearPool(Squeeze):
    """A learned linear map of pooled positions: x is average-pooled to a grid (grid per spatial axis), and one
    linear map (shared by all channels, no bias) takes the grid^dims positions of each channel to ``dim`` numbers.

    Args:
        grid: positions per spatial axis (any input size is adaptively pooled to it).
        dim: descriptor entries per channel (S). Initialised so that every entry starts as the plain mean.

    Shapes: (N, C, *spatial) → (N, dim, C, 1, ...).
    """

    mask_refusal = "adaptive pooling to a fixed grid averages padded and valid positions together"

    def __init__(self, channels: int, dims: int = 2, *, grid: int = 4, dim: int = 1):
        super().__init__(channels, dims)
        if grid < 1 or dim < 1:
            raise SpecError(f"linear squeeze: grid and dim must be >= 1, got grid={grid}, dim={dim}.")
        self.grid = grid
        positions = grid ** self.dims
        self.proj = nn.Linear(positions, dim, bias=False)
        nn.init.constant_(self.proj.weight, 1.0 / positions)
        self.descriptor = Descriptor(channels, dim, ("c",), dims=self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        y = ADAPTIVE_AVG_POOL[self.dims](x, self.grid).reshape(n, c, self.proj.in_features)
        return self.proj(y).transpose(1, 2).reshape(n, self.proj.out_features, c, *_unit(self.dims))

    def extra_repr(self) -> str:
        return f"{self.channels}, grid={self.grid}, dim={self.proj.out_features}" + self._dims_repr()


def mask_logits(a: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits a (N, K, *spatial) with padded positions (``mask`` (N, *spatial) False) set to the dtype's lowest
    value, so that a softmax gives them weight 0 (and a sample without valid positions uniform weights, not NaN).
    A leaf for torch.fx."""
    if mask is None:
        return a
    return a.masked_fill(~mask.unsqueeze(1), torch.finfo(a.dtype).min)


torch.fx.wrap("mask_logits")


@SQUEEZE.register("attn")
class AttnPool(Squeeze):
    """GC attention pooling (Cao et al. 2019): a 1×1 conv C→1 gives one logit per position, softmax over the
    pooled positions, then the attention-weighted sum of x.

    Args:
        axes: ``spatial`` (GCNet: softmax over all positions), or one kept axis as in the ``axes`` table of
            se_variants/descriptor.py: ``h`` (2-D: over W, keeps H), ``w``, ``d`` (3-D), or a list of the
            spatial axes to pool.

    Shapes: (N, C, *spatial) → (N, 1, C, *spatial'). With ``mask`` (N, *spatial) bool, padded positions get
    attention weight 0 (their logits masked, their values replaced by 0 before the conv and the weighted sum, so
    NaN or ±inf padding stays out).
    """

    takes_mask = True
    mask_refusal = None

    def __init__(self, channels: int, dims: int = 2, *,
                 axes: Literal["spatial", "hw", "h", "w", "d"] | tuple[Literal["l", "d", "h", "w"], ...] = "spatial"):
        super().__init__(channels, dims)
        pooled = pooled_axes(axes, self.dims)
        if "c" in pooled:
            raise SpecError(f"attn squeeze: axes {axes!r} pools C; attention pooling weighs spatial positions, "
                            f"so pool spatial axes only (spatial, h, w, d or a list of spatial letters).")
        self.axes = axes
        self.pooled = x_dims(pooled, self.dims)
        self.all_spatial = len(pooled) == self.dims
        self.logit = CONV[self.dims](channels, 1, 1)
        nn.init.kaiming_normal_(self.logit.weight, mode="fan_in", nonlinearity="relu")
        self.descriptor = Descriptor.from_axes(channels, 1, axes, self.dims)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = masks.zero_padding(x, mask)
        a = mask_logits(self.logit(x), mask)
        n, c = x.shape[0], x.shape[1]
        if self.all_spatial:
            positions = _positions(x, self.dims)
            w = a.reshape(n, 1, positions).softmax(-1)
            pooled = torch.bmm(x.reshape(n, c, positions), w.transpose(1, 2))
            return pooled.reshape(n, 1, c, *_unit(self.dims))
        w = (a - a.logsumexp(self.pooled, keepdim=True)).exp()
        return (x * w).sum(self.pooled, keepdim=True).unsqueeze(1)

    def extra_repr(self) -> str:
        axes = list(self.axes) if isinstance(self.axes, tuple) else repr(self.axes)
        return f"{self.channels}, axes={axes}" + self._dims_repr()


def _positions(x: torch.Tensor, dims: int) -> int:
    """Number of spatial positions of x (N, C, *spatial) with ``dims`` spatial axes."""
    p = 1
    for i in range(2, 2 + dims):
        p *= x.shape[i]
    return p


@SQUEEZE.register("cluster")
class ClusterPool(Squeeze):
    """Soft clustering of positions: each position's C-vector is softly assigned to K learned centroids
    (softmax over K of a 1×1 conv C→K); descriptor k of channel c is the assignment-weighted mean of x over the
    positions.

    Args:
        clusters: K, descriptors per channel (S = K).

    Shapes: (N, C, *spatial) → (N, K, C, 1, ...). With ``mask`` (N, *spatial) bool, the means use valid
    positions only (padded values are replaced by 0 before the assignment conv and the means, so NaN or ±inf
    padding stays out).
    """

    takes_mask = True
    mask_refusal = None

    def __init__(self, channels: int, dims: int = 2, *, clusters: int = 4):
        super().__init__(channels, dims)
        if clusters < 1:
            raise SpecError(f"cluster squeeze: clusters must be >= 1, got {clusters}.")
        self.assign = CONV[self.dims](channels, clusters, 1)
        self.descriptor = Descriptor(channels, clusters, ("c",), dims=self.dims)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = masks.zero_padding(x, mask)
        n, c, k, p = x.shape[0], x.shape[1], self.assign.out_channels, _positions(x, self.dims)
        a = self.assign(x).reshape(n, k, p).softmax(1)  # (N, K, P)
        a = _valid_only(a, mask)
        a = a / (a.sum(-1, keepdim=True) + 1e-6)  # weighted mean over positions
        return torch.bmm(a, x.reshape(n, c, p).transpose(1, 2)).reshape(n, k, c, *_unit(self.dims))

    def extra_repr(self) -> str:
        return f"{self.channels}, clusters={self.assign.out_channels}" + self._dims_repr()


def _valid_only(a: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Assignments a (N, K, P) with padded positions zeroed (``mask`` (N, *spatial)), by selection. A leaf for
    torch.fx."""
    if mask is None:
        return a
    return torch.where(mask.reshape(a.shape[0], 1, a.shape[2]), a, 0.0)


torch.fx.wrap("_valid_only")


@SQUEEZE.register("proj")
class ChannelProjection(Squeeze):
    """A learned projection of the C channels to one map: a 1×1 conv C→1 at every position (the spatial squeeze of
    scSE, Roy et al. 2018). Keeps every position and mixes none, so a masked block may use it.

    Args:
        bias: the conv's bias (scSE: yes).

    Shapes: (N, C, *spatial) → (N, 1, 1, *spatial). With ``mask`` (N, *spatial) bool, padded positions are
    projected as zeros instead of their values, so that NaN or ±inf padding reaches neither the conv's gradients
    nor anything downstream.
    """

    takes_mask = True
    mask_refusal = None

    def __init__(self, channels: int, dims: int = 2, *, bias: bool = True):
        super().__init__(channels, dims)
        self.conv = CONV[self.dims](channels, 1, 1, bias=bias)
        self.descriptor = Descriptor(channels, 1, SPATIAL_AXES[self.dims], dims=self.dims)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(masks.zero_padding(x, mask)).unsqueeze(1)

    def extra_repr(self) -> str:
        return f"{self.channels}, bias={self.conv.bias is not None}" + self._dims_repr()
