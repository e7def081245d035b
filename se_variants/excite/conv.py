"""``conv1d``: ECA's 1-D conv across channels, generalised to a conv over whatever axes the descriptor keeps;
``multi_conv``: several such convs of different kernel sizes, fused."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..descriptor import Descriptor
from ..norm import batch_norm
from ..registry import EXCITE, SpecError
from .base import Excite, eca_kernel_size, kept_view, refuse_unused, unkept_view

__all__ = ["ConvExcite", "MultiConvExcite", "make_conv", "conv_rank"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}

#: CBAM (Woo et al. 2018) and triplet attention (Misra et al. 2021) use 7×7 convs on their 2-D maps.
SPATIAL_KERNEL = 7


def conv_rank(desc: Descriptor, name: str) -> int:
    """Axes a conv over the descriptor's kept axes runs on (1, 2 or 3); SpecError when there are more."""
    n = len(desc.keeps)
    if n > 3:
        kept = "×".join(a.upper() for a in desc.keeps)
        raise SpecError(f"excite '{name}' convolves the kept axes {kept}, and torch has no {n}-D convolution. Use "
                        f"fc, cfc, attn or identity here, or a squeeze that keeps fewer axes.")
    return n


def default_kernel(desc: Descriptor, gamma: float, beta: float) -> int:
    """ECA's adaptive k on a channels-only descriptor, else 7 (CBAM/triplet) on every kept axis."""
    if desc.keeps == ("c",):
        return eca_kernel_size(desc.channels, gamma, beta)
    return SPATIAL_KERNEL


def make_conv(desc: Descriptor, in_channels: int, out_channels: int, k: int, bias: bool, name: str) -> nn.Module:
    """A conv of kernel k (odd, 'same' padding) over the descriptor's kept axes: Conv1d/2d/3d."""
    if k < 1 or k % 2 == 0:
        raise SpecError(f"kernel_size must be a positive odd int (same padding), got {k}.")
    return _CONV[conv_rank(desc, name)](in_channels, out_channels, k, padding=k // 2, bias=bias)


@EXCITE.register("conv1d")
class ConvExcite(Excite):
    """ECA (Wang et al. 2020): a conv along the descriptor's kept axes with the S statistics as input channels.

    * channels only (avg, max, dct, ...): 1-D conv across C, k adaptive from C (ECA) unless given;
    * C and one spatial axis (``h``, ``w``, ``d``): 2-D k×k conv over the C×H / C×W / C×D plane (triplet);
    * spatial only (``c``): k×k conv over H×W (CBAM's spatial branch; 1-D: along L, 3-D: k×k×k), ``wc`` /
      ``hc``: 1-D conv along H or W;
    * three kept axes (C, H, W of a 2-D local GE gather; C and two axes of a 3-D input): 3-D conv. Four kept
      axes have no torch conv and are refused.

    Args:
        kernel_size: odd k; None → ECA adaptive k on channels-only descriptors, 7 otherwise.
        gamma, beta: ECA's γ and b for the adaptive k (only used there).
        bias: conv bias (ECA: none).
        norm: none or bn after the conv (CBAM and triplet use conv + BN); ``bn_momentum`` its momentum
            (CBAM/triplet official 0.01, timm 0.1).

    Shapes: (N, S, C', *spatial') → (N, C', *spatial').
    """

    def __init__(
        self,
        descriptor: Descriptor,
        *,
        kernel_size: int | None = None,
        gamma: float = 2.0,
        beta: float = 1.0,
        bias: bool = False,
        norm: Literal["none", "bn"] = "none",
        bn_momentum: float = 0.1,
    ):
        super().__init__(descriptor)
        cls = type(self).__init__
        if kernel_size is not None:
            refuse_unused("conv1d", cls, dict(gamma=gamma, beta=beta), f"with kernel_size={kernel_size} given")
        elif descriptor.keeps != ("c",):
            refuse_unused("conv1d", cls, dict(gamma=gamma, beta=beta),
                          f"on a descriptor keeping {'×'.join(a.upper() for a in descriptor.keeps)} (ECA's "
                          f"adaptive k is for channels-only descriptors; the kernel here is {SPATIAL_KERNEL})")
        if norm == "none":
            refuse_unused("conv1d", cls, dict(bn_momentum=bn_momentum), "without a norm (norm=none)")
        self.kernel_size = kernel_size if kernel_size is not None else default_kernel(descriptor, gamma, beta)
        self.conv = make_conv(descriptor, descriptor.stats, 1, self.kernel_size, bias, "conv1d")
        rank = conv_rank(descriptor, "conv1d")
        self.norm = batch_norm(rank, 1, momentum=bn_momentum) if norm == "bn" else nn.Identity()
        self.mixes_positions = bool(descriptor.spatial)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return unkept_view(self.norm(self.conv(kept_view(d, self.descriptor))), d, self.descriptor)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, axes={''.join(self.descriptor.keeps)}"


@EXCITE.register("multi_conv")
class MultiConvExcite(Excite):
    """Multi-scale channel modelling (in the spirit of EPSANet's 3/5/7/9 kernels): one conv per kernel size along
    the kept axes (as ``conv1d``), their outputs fused by a learned 1×1 combination initialised to the mean.

    Args:
        kernels: odd kernel sizes, one branch each.
        bias: conv biases.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial').
    """

    def __init__(self, descriptor: Descriptor, *, kernels: tuple[int, ...] = (3, 5, 7, 9), bias: bool = False):
        super().__init__(descriptor)
        if not kernels:
            raise SpecError("multi_conv needs at least one kernel size in 'kernels', e.g. [3, 5, 7, 9].")
        self.kernels = tuple(kernels)
        self.convs = nn.ModuleList(make_conv(descriptor, descriptor.stats, 1, k, bias, "multi_conv")
                                   for k in self.kernels)
        self.fuse = _CONV[conv_rank(descriptor, "multi_conv")](len(self.kernels), 1, 1, bias=False)
        nn.init.constant_(self.fuse.weight, 1.0 / len(self.kernels))
        self.mixes_positions = bool(descriptor.spatial)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        x = kept_view(d, self.descriptor)
        y = torch.cat([conv(x) for conv in self.convs], 1)  # (N, K, *kept)
        return unkept_view(self.fuse(y), d, self.descriptor)

    def extra_repr(self) -> str:
        return f"kernels={list(self.kernels)}, axes={''.join(self.descriptor.keeps)}"
