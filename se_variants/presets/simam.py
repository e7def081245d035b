"""``simam``: the parameter-free SimAM (Yang et al. 2021)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.fx
from torch import nn

from ..compose import checks
from ..registry import GATE, PRESET

__all__ = ["SimAM"]


def spatial_dof(x: torch.Tensor) -> int:
    """H·W − 1 clamped to >= 1 (the variance's denominator). A leaf for torch.fx."""
    return max(x.shape[2] * x.shape[3] - 1, 1)


torch.fx.wrap("spatial_dof")


@PRESET.register("simam")
class SimAM(nn.Module):
    """SimAM: per-neuron energy d = (x − μ)², v = Σd / (H·W − 1), E⁻¹ = d / (4(v + λ)) + 0.5, y = x · σ(E⁻¹),
    with μ and the sum over H×W of each channel, λ = 1e-4. No parameters.

    On a 1×1 map H·W − 1 is 0; it is clamped to 1 (d is 0 there, so y = x · σ(0.5)).

    Shapes: (N, C, H, W) → (N, C, H, W).
    """

    def __init__(self, channels: int, *, e_lambda: float = 1e-4, gate: Literal["sigmoid"] = "sigmoid"):
        super().__init__()
        self.channels = channels
        self.e_lambda = e_lambda
        self.gate = GATE.build(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_input(x, self.channels, "SimAM")
        n = spatial_dof(x)
        d = (x - x.mean((2, 3), keepdim=True)).pow(2)
        v = d.sum((2, 3), keepdim=True) / n
        return x * self.gate(d / (4 * (v + self.e_lambda)) + 0.5)

    def extra_repr(self) -> str:
        return f"{self.channels}, e_lambda={self.e_lambda}"
