"""BatchNorm layers that accept a single value per channel in train mode.

Batch size 1 with a pooled descriptor leaves BatchNorm one value per channel, where batch statistics are
undefined and ``torch.nn.BatchNorm*`` raises. These subclasses then normalise with the running statistics (as in
eval mode) and leave them unchanged; every other input is handled exactly as by torch's BatchNorm.

In eval mode they trace with torch.fx (no branching on tensor shapes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "batch_norm"]


class _SingleValueSafe:
    """Mixin: in train mode with one value per channel, normalise with the running statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.numel() == x.shape[1]:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        # Inputs come from our own ops with fixed ranks; skipping torch's rank check keeps torch.fx tracing
        # (which cannot branch on x.dim()) working in eval mode.
        pass


class BatchNorm1d(_SingleValueSafe, nn.BatchNorm1d):
    """torch BatchNorm1d; one value per channel in train mode → running statistics (see module doc)."""


class BatchNorm2d(_SingleValueSafe, nn.BatchNorm2d):
    """torch BatchNorm2d; one value per channel in train mode → running statistics (see module doc)."""


class BatchNorm3d(_SingleValueSafe, nn.BatchNorm3d):
    """torch BatchNorm3d; one value per channel in train mode → running statistics (see module doc)."""


def batch_norm(dims: int, num_features: int, **options: float) -> nn.Module:
    """The BatchNorm above for inputs with ``dims`` axes after (N, C): (N, C, L) 1, (N, C, H, W) 2,
    (N, C, D, H, W) 3 (and (N, C) as 1)."""
    return {1: BatchNorm1d, 2: BatchNorm2d, 3: BatchNorm3d}[dims](num_features, **options)
