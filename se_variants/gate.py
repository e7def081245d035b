"""Gates: logits → scale, elementwise, except ``softmax`` which normalises across the branches of a fusion block.

Shapes: (N, ...) → same shape. ``softmax`` expects (N, K, C, H', W') and normalises over K.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import GATE

__all__ = ["Gate", "Sigmoid", "HardSigmoid", "Tanh", "ReLUGate", "BranchSoftmax", "IdentityGate"]


class Gate(nn.Module):
    """Base class. ``across_branches`` is True for gates that need a branch axis (only fusion blocks have one)."""

    across_branches = False


@GATE.register("sigmoid")
class Sigmoid(Gate):
    """σ(z) ∈ (0, 1) (SENet)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)


@GATE.register("hard_sigmoid")
class HardSigmoid(Gate):
    """relu6(z + 3) / 6 ∈ [0, 1] (MobileNetV3, ESE)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.hardsigmoid(z)


@GATE.register("tanh")
class Tanh(Gate):
    """tanh(z) ∈ (-1, 1) (SENet's gate ablation, Table 12)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)


@GATE.register("relu")
class ReLUGate(Gate):
    """max(z, 0), unbounded (SENet's gate ablation)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)


@GATE.register("softmax")
class BranchSoftmax(Gate):
    """Softmax across the K branches of a fusion block, per channel (SKNet). Needs a branch axis: (N, K, ...)."""

    across_branches = True

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(z, dim=1)


@GATE.register("identity")
class IdentityGate(Gate):
    """The logits themselves (GCNet's additive fusion)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z
