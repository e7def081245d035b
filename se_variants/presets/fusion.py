"""Multi-input presets: ``sk`` (SKNet's selective kernel unit) and ``multi_input`` (the seed's fusion block)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..compose import Fusion, checks
from ..descriptor import check_dims
from ..norm import batch_norm
from ..registry import PRESET, SpecError
from ..squeeze.learned import CONV

__all__ = ["SelectiveKernel", "multi_input"]


@PRESET.register("sk")
class SelectiveKernel(nn.Module):
    """Selective kernel unit (Li et al. 2019): K conv branches (3×3 with dilation 1, 2, ... standing in for
    3×3, 5×5, ... kernels; 3 or 3×3×3 in 1-D / 3-D) with BN + ReLU → fusion: sum → avg → FC C→d + BN + ReLU →
    FC d→K·C → softmax across the K branches per channel → Σ a_k · U_k.

    Defaults follow the paper: d = max(C // r, 32), r = 16, no input split. timm ``SelectiveKernel``: divisor=8,
    round_limit=0.9, min_hidden=8 and ``split_input=True`` (branch k sees the k-th C/K slice of the input).

    Shapes: (N, C, *spatial) → (N, C, *spatial). ``fusion.attention`` gives the (N, K, C, 1, ...) branch weights.
    """

    mask_refusal = "its conv branches mix padded and valid positions"

    def __init__(
        self,
        channels: int,
        dims: int = 2,
        *,
        kernels: tuple[int, ...] = (3, 5),
        reduction: float = 16,
        min_hidden: int = 32,
        divisor: int = 0,
        round_limit: float = 0.0,
        split_input: bool = False,
        gate: Literal["softmax", "sigmoid"] = "softmax",
    ):
        super().__init__()
        if len(kernels) < 2 or any(k < 3 or k % 2 == 0 for k in kernels):
            raise SpecError(f"sk: kernels must be >= 2 odd sizes >= 3 (e.g. [3, 5]), got {list(kernels)}.")
        if split_input and channels % len(kernels):
            raise SpecError(f"sk: split_input needs C divisible by {len(kernels)} branches, got C={channels}.")
        self.channels = channels
        self.dims = check_dims(dims)
        self.split_input = split_input
        c_in = channels // len(kernels) if split_input else channels
        self.paths = nn.ModuleList()
        for k in kernels:
            d = (k - 1) // 2
            self.paths.append(nn.Sequential(
                CONV[self.dims](c_in, channels, 3, padding=d, dilation=d, bias=False),
                batch_norm(self.dims, channels), nn.ReLU(),
            ))
        fc = dict(name="fc", reduction=reduction, min_hidden=min_hidden, divisor=divisor, round_limit=round_limit,
                  bias=False, norm="bn")
        self.fusion = Fusion(channels, self.dims, inputs=len(kernels), squeeze="avg", excite=fc, gate=gate)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "SelectiveKernel", mask, self.mask_refusal)
        if self.split_input:
            parts = torch.chunk(x, len(self.paths), 1)
            return self.fusion([path(p) for path, p in zip(self.paths, parts)])
        return self.fusion([path(x) for path in self.paths])


@PRESET.register("multi_input")
def multi_input(
    channels: int,
    dims: int = 2,
    *,
    inputs: int = 2,
    reduction: float = 2,
    gate: Literal["sigmoid", "softmax"] = "sigmoid",
) -> Fusion:
    """Multi-input fusion (the seed's design): K inputs → sum → avg → FC C→C/2 → ReLU → FC → K·C → split →
    sigmoid each → Σ a_k · U_k. ``gate="softmax"`` is SK-style selection.

    Shapes: K tensors (N, C, *spatial) (or a list, or one stacked (N, K, C, *spatial)) → (N, C, *spatial).
    """
    return Fusion(channels, dims, inputs=inputs, squeeze="avg", excite=dict(name="fc", reduction=reduction),
                  gate=gate)
