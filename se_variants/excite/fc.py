"""``fc``: the SE bottleneck (two fully connected layers along C), ``cfc``: SRM's channel-wise FC, and
``identity``: no excitation."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..descriptor import Descriptor
from ..norm import BatchNorm1d, batch_norm
from ..registry import EXCITE, SpecError
from .base import Excite, hidden_width, kept_view, make_activation, refuse_unused, unkept_view

__all__ = ["FC", "ChannelwiseFC", "IdentityExcite", "Activation"]

Activation = Literal["relu", "hswish", "silu", "gelu", "leakyrelu"]

_ADAPTIVE_AVG_POOL = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


@EXCITE.register("fc")
class FC(Excite):
    """Bottleneck FC → [norm] → act → FC (SENet), or one FC (``layers=1``, ESE).

    * Descriptors keeping C: the FCs act along C (C → hidden → C); with kept spatial axes (``h``, ``w``, ``d``,
      GE local) the same FCs act at every kept position (1×1 convs, as coordinate attention); with S > 1
      statistics each goes through the shared FCs and the logits are summed (CBAM's channel branch).
    * Descriptors without C (``c``, ``wc``, ``hc``): the FCs act along the kept spatial positions. Their size is
      only known at run time, so the kept axes are average-pooled to ``grid`` per axis (L = grid^axes features),
      the FCs map L → hidden → L, and the logits are resized back (nearest). Inputs whose kept size equals
      ``grid`` are not resampled.

    Args:
        reduction: r; hidden = features // r by default (SENet: C // 16).
        hidden: explicit hidden width (instead of reduction).
        divisor: 0 → floor C // r (paper); d >= 1 → timm/torchvision "make divisible" by d (1 = round half up).
        round_limit: with divisor >= 1: add a multiple when rounding lost more than 1 - round_limit
            (torchvision and X3D 0.9, timm SE 0.0).
        min_hidden: lower bound on hidden (SKNet 32).
        bias: biases on both FCs (released SENets: yes; paper ablations: no).
        norm: none, bn (SK, coordinate attention) or ln (GC) after the first FC; ``norm_eps`` its epsilon.
        act: activation after the first FC (``leakyrelu``: slope 0.01, MONAI's ResidualSELayer).
        layers: 2 (bottleneck) or 1 (one FC C → C, ESE: the bottleneck options do not apply).
        grid: positions per kept spatial axis on descriptors without C (only there).

    Options that cannot act in the chosen configuration (reduction with ``layers=1`` or ``hidden``,
    ``round_limit`` with ``divisor=0``, ``norm_eps`` without a norm, ``grid`` on descriptors keeping C) are
    refused when they differ from their defaults.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial') (built for a K-input fusion block: (N, K·C, *spatial')).
    """

    supports_branches = True

    def __init__(
        self,
        descriptor: Descriptor,
        branches: int = 1,
        *,
        reduction: float = 16,
        hidden: int | None = None,
        divisor: int = 0,
        round_limit: float = 0.0,
        min_hidden: int = 1,
        bias: bool = True,
        norm: Literal["none", "bn", "ln"] = "none",
        norm_eps: float = 1e-5,
        act: Activation = "relu",
        layers: Literal[1, 2] = 2,
        grid: int = 7,
    ):
        super().__init__(descriptor)
        cls = type(self).__init__
        if layers == 1:
            refuse_unused("fc", cls, dict(reduction=reduction, hidden=hidden, divisor=divisor, round_limit=round_limit,
                                          min_hidden=min_hidden, norm=norm, norm_eps=norm_eps, act=act),
                          "with layers=1 (one FC C → C, no bottleneck)")
        elif hidden is not None:
            refuse_unused("fc", cls, dict(reduction=reduction, divisor=divisor, round_limit=round_limit,
                                          min_hidden=min_hidden), f"with an explicit hidden={hidden}")
        elif divisor == 0:
            refuse_unused("fc", cls, dict(round_limit=round_limit), "with divisor=0 (floor C // r, no rounding)")
        if norm == "none":
            refuse_unused("fc", cls, dict(norm_eps=norm_eps), "without a norm (norm=none)")
        self.over_channels = descriptor.keeps_channels
        if self.over_channels:
            refuse_unused("fc", cls, dict(grid=grid), "on a descriptor that keeps C (the FCs act along C)")
        elif branches > 1:
            self.require_channels("fc")
        if grid < 1:
            raise SpecError(f"fc: grid must be >= 1, got {grid}.")
        self.grid = grid
        features = descriptor.channels if self.over_channels else grid ** len(descriptor.keeps)
        out = features * branches
        self.layers = layers
        if layers == 1:
            self.fc1 = nn.Linear(features, out, bias=bias)
            self.width = out
        else:
            self.width = hidden_width(features, reduction, hidden, divisor, round_limit, min_hidden)
            self.fc1 = nn.Linear(features, self.width, bias=bias)
            if norm == "bn":
                self.norm = BatchNorm1d(self.width, eps=norm_eps)
            elif norm == "ln":
                self.norm = nn.LayerNorm(self.width, eps=norm_eps)
            else:
                self.norm = nn.Identity()
            self.act = make_activation(act)
            self.fc2 = nn.Linear(self.width, out, bias=bias)
        self.batch_norm = layers == 2 and norm == "bn"
        self.normed = layers == 2 and norm != "none"
        self.stats = descriptor.stats
        self.channels_only = descriptor.keeps == ("c",)  # plain SE: (N, S, C, 1, ...) → one FC call on (N·S, C)
        self.ones = (1,) * descriptor.dims
        self.drop_stats = (0, *range(2, 3 + descriptor.dims))  # the axes of (N, 1, *spatial', out) but S
        # a position's logits come from its own descriptor only, unless positions are resampled (no C) or share
        # BatchNorm statistics
        self.mixes_positions = not self.over_channels or (self.batch_norm and bool(descriptor.spatial))

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        """(..., features) → (..., out), along the last axis."""
        z = self.fc1(z)
        if self.layers == 2:
            if self.batch_norm:  # BatchNorm1d normalises (M, features)
                z = self.norm(z.reshape(math.prod(z.shape[:-1]), self.width)).reshape(z.shape)
            elif self.normed:
                z = self.norm(z)
            z = self.fc2(self.act(z))
        return z

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        if not self.over_channels:
            return self.forward_spatial(d)
        if self.channels_only:
            n = d.shape[0]
            z = self.mlp(d.reshape(n * self.stats, d.shape[2]))  # (N·S, out)
            z = z.reshape(n, self.stats, z.shape[1]).sum(1) if self.stats > 1 else z
            return z.reshape(n, z.shape[1], *self.ones)
        z = self.mlp(d.movedim(2, -1).contiguous())  # (N, S, *spatial', out)
        z = z.sum(1) if self.stats > 1 else z.reshape(*(z.shape[i] for i in self.drop_stats))
        return z.movedim(-1, 1)

    def forward_spatial(self, d: torch.Tensor) -> torch.Tensor:
        x = kept_view(d, self.descriptor)  # (N, S, *kept)
        k = len(self.descriptor.keeps)
        size = [x.shape[i] for i in range(2, 2 + k)]
        pooled = _ADAPTIVE_AVG_POOL[k](x, self.grid)
        z = self.mlp(pooled.reshape(x.shape[0], x.shape[1], self.grid ** k))
        z = z.reshape((x.shape[0], x.shape[1]) + (self.grid,) * k).sum(1, keepdim=True)
        z = F.interpolate(z, size=size, mode="nearest")
        return unkept_view(z, d, self.descriptor)

    def extra_repr(self) -> str:
        mode = "channels" if self.over_channels else f"positions on a {self.grid}-grid"
        return f"hidden={self.width}, stats={self.stats}, along={mode}"


@EXCITE.register("cfc")
class ChannelwiseFC(Excite):
    """SRM style integration (Lee et al. 2019): each channel combines its own S statistics with its own S
    weights (initialised to 0), then BatchNorm over C. No mixing across channels. On descriptors without C
    there is one "channel": the S statistics of every position are combined with one shared weight vector.

    Args:
        norm: bn (SRM) or none.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial').
    """

    def __init__(self, descriptor: Descriptor, *, norm: Literal["bn", "none"] = "bn"):
        super().__init__(descriptor)
        c, s = descriptor.out_channels, descriptor.stats
        self.weight = nn.Parameter(torch.zeros(c, s))
        self.norm = batch_norm(descriptor.dims, c) if norm == "bn" else nn.Identity()
        self.shape = (1, s, c) + (1,) * descriptor.dims
        self.mixes_positions = norm == "bn" and bool(descriptor.spatial)  # BatchNorm statistics over positions

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.norm((d * self.weight.t().reshape(self.shape)).sum(1))


@EXCITE.register("identity")
class IdentityExcite(Excite):
    """No excitation: the descriptor itself is the logit (GE-θ⁻). S > 1 statistics are summed.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial').
    """

    mixes_positions = False

    def __init__(self, descriptor: Descriptor):
        super().__init__(descriptor)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return d.sum(1)
