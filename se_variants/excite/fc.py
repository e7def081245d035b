"""``fc``: the SE bottleneck (two fully connected layers along C), and ``cfc``: SRM's channel-wise FC."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..descriptor import Descriptor
from ..norm import BatchNorm1d, BatchNorm2d
from ..registry import EXCITE, SpecError
from .base import Excite, hidden_width, kept_view, make_activation, unkept_view

__all__ = ["FC", "ChannelwiseFC"]

Activation = Literal["relu", "hswish", "silu", "gelu"]


@EXCITE.register("fc")
class FC(Excite):
    """Bottleneck FC → [norm] → act → FC (SENet), or one FC (``layers=1``, ESE).

    * Descriptors keeping C: the FCs act along C (C → hidden → C); with kept spatial axes (``h``, ``w``,
      GE local) the same FCs act at every kept position (1×1 convs, as coordinate attention); with S > 1
      statistics each goes through the shared FCs and the logits are summed (CBAM's channel branch).
    * Descriptors without C (``c``, ``wc``, ``hc``): the FCs act along the kept spatial positions. Their size is
      only known at run time, so the kept axes are average-pooled to ``grid`` per axis (L = grid^axes features),
      the FCs map L → hidden → L, and the logits are resized back (nearest). Inputs whose kept size equals
      ``grid`` are not resampled.

    Options:
        reduction: r; hidden = features // r by default (SENet: C // 16).
        hidden: explicit hidden width (overrides reduction).
        divisor: 0 → floor C // r (paper); d >= 1 → timm/torchvision "make divisible" by d (1 = round half up).
        round_limit: with divisor: add a multiple when rounding lost more than 1 - round_limit (torchvision 0.9,
            timm SE 0.0).
        min_hidden: lower bound on hidden (SKNet 32).
        bias: biases on both FCs (released SENets: yes; paper ablations: no).
        norm: none, bn (SK, coordinate attention) or ln (GC) after the first FC; ``norm_eps`` its epsilon.
        act: activation after the first FC.
        layers: 2 (bottleneck) or 1 (single FC, ESE).
        grid: positions per kept spatial axis on descriptors without C (unused when C is kept).

    Shapes: (N, S, C', H', W') → (N, C', H', W') (built for a K-input fusion block: (N, K·C, H', W')).
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
        self.over_channels = descriptor.keeps_channels
        if not self.over_channels and branches > 1:
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
        self.stats = descriptor.stats

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        """(M, features) → (M, out)."""
        z = self.fc1(z)
        if self.layers == 2:
            z = self.fc2(self.act(self.norm(z)))
        return z

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        if not self.over_channels:
            return self.forward_spatial(d)
        n, s, h, w = d.shape[0], d.shape[1], d.shape[3], d.shape[4]
        z = self.mlp(d.permute(0, 1, 3, 4, 2).reshape(-1, self.descriptor.channels)).reshape(n, s, h, w, -1)
        z = z.sum(1) if self.stats > 1 else z.squeeze(1)
        return z.permute(0, 3, 1, 2)

    def forward_spatial(self, d: torch.Tensor) -> torch.Tensor:
        x = kept_view(d, self.descriptor)  # (N, S, *kept)
        size = x.shape[2:]
        k = len(self.descriptor.keeps)
        pooled = F.adaptive_avg_pool1d(x, self.grid) if k == 1 else F.adaptive_avg_pool2d(x, self.grid)
        z = self.mlp(pooled.reshape(x.shape[0] * x.shape[1], -1))
        z = z.reshape((x.shape[0], x.shape[1]) + (self.grid,) * k).sum(1, keepdim=True)
        z = F.interpolate(z, size=size, mode="nearest")
        return unkept_view(z, d)

    def extra_repr(self) -> str:
        mode = "channels" if self.over_channels else f"positions on a {self.grid}-grid"
        return f"hidden={self.width}, stats={self.stats}, along={mode}"


@EXCITE.register("cfc")
class ChannelwiseFC(Excite):
    """SRM style integration (Lee et al. 2019): each channel combines its own S statistics with its own S
    weights (initialised to 0), then BatchNorm over C. No mixing across channels. On descriptors without C
    there is one "channel": the S statistics of every position are combined with one shared weight vector.

    Options:
        norm: bn (SRM) or none.

    Shapes: (N, S, C', H', W') → (N, C', H', W').
    """

    def __init__(self, descriptor: Descriptor, *, norm: Literal["bn", "none"] = "bn"):
        super().__init__(descriptor)
        c, s = descriptor.out_channels, descriptor.stats
        self.weight = nn.Parameter(torch.zeros(c, s))
        self.norm = BatchNorm2d(c) if norm == "bn" else nn.Identity()

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        z = (d * self.weight.t()[None, :, :, None, None]).sum(1)
        return self.norm(z)


@EXCITE.register("identity")
class IdentityExcite(Excite):
    """No excitation: the descriptor itself is the logit (GE-θ⁻). S > 1 statistics are summed.

    Shapes: (N, S, C', H', W') → (N, C', H', W').
    """

    def __init__(self, descriptor: Descriptor):
        super().__init__(descriptor)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return d.sum(1)


