"""``simam``: the parameter-free SimAM (Yang et al. 2021)."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

from .. import mask as masks
from ..compose import checks
from ..descriptor import check_dims
from ..registry import GATE, PRESET
from ..squeeze.base import spatial_dims

__all__ = ["SimAM"]


def energy_stats(x: torch.Tensor, dims: tuple[int, ...], mask: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """(d, v) of SimAM for x (N, C, *spatial): d = (x − μ)² and v = Σd / (n − 1) over the spatial ``dims`` (n − 1
    clamped to >= 1); with ``mask`` (N, *spatial) bool, μ and Σ use valid positions only, and d is 0 at padded
    positions (x − μ is selected before it is squared, so NaN or ±inf padding reaches no product). A leaf for
    torch.fx."""
    if mask is None:
        n = 1
        for i in dims:
            n *= x.shape[i]
        d = (x - x.mean(dims, keepdim=True)).square()
        return d, d.sum(dims, keepdim=True) / max(n - 1, 1)
    valid = mask.unsqueeze(1)
    n = valid.sum(dims, keepdim=True, dtype=x.dtype)
    d = torch.where(valid, x - torch.where(valid, x, 0.0).sum(dims, keepdim=True) / n.clamp(min=1), 0.0).square()
    return d, d.sum(dims, keepdim=True) / (n - 1).clamp(min=1)


torch.fx.wrap("energy_stats")


@PRESET.register("simam")
class SimAM(nn.Module):
    """SimAM: per-neuron energy d = (x − μ)², v = Σd / (n − 1), E⁻¹ = d / (4(v + λ)) + 0.5, y = x · σ(E⁻¹),
    with μ and the sum over the n spatial positions of each channel, λ = 1e-4. No parameters.

    On a single position n − 1 is 0; it is clamped to 1 (d is 0 there, so y = x · σ(0.5)). With ``mask``
    (N, *spatial) bool, μ and v use valid positions only, and padded neurons count as sitting at the mean (d = 0,
    y = x · σ(0.5)), whatever the padding holds (NaN and ±inf included).

    Shapes: (N, C, *spatial) → (N, C, *spatial).
    """

    mask_refusal = None

    def __init__(self, channels: int, dims: int = 2, *, e_lambda: float = 1e-4):
        super().__init__()
        self.channels = channels
        self.dims = check_dims(dims)
        self.e_lambda = e_lambda
        self.spatial = spatial_dims(self.dims)
        self.gate = GATE.build("sigmoid")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.check_input(x, self.channels, self.dims, "SimAM", mask, self.mask_refusal)
        d, v = energy_stats(x, self.spatial, mask)
        # with a mask, padded positions send no gradient back into v (NaN / ±inf padding would make it NaN)
        return x * self.gate(masks.padding_detached(d / (4 * (v + self.e_lambda)) + 0.5, mask))

    def extra_repr(self) -> str:
        return f"{self.channels}, e_lambda={self.e_lambda}" + (f", dims={self.dims}" if self.dims != 2 else "")
