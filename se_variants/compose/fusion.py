"""The multi-input fusion block (the seed's design; SKNet's selection is the softmax case)."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn

from ..registry import EXCITE, GATE, SQUEEZE, SpecError

__all__ = ["Fusion"]


def unpack_inputs(xs: tuple[Any, ...], inputs: int, channels: int) -> list[torch.Tensor]:
    """K tensors, a list of them, or one stacked (N, K, C, H, W) tensor → list of K (N, C, H, W) tensors.
    A leaf for torch.fx (it checks shapes)."""
    if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
        xs = tuple(xs[0])
    if len(xs) == 1:
        u = xs[0]
        if u.dim() != 5 or u.shape[1] != inputs or u.shape[2] != channels:
            raise ValueError(
                f"Fusion expects {inputs} inputs (N, {channels}, H, W) or one stacked tensor "
                f"(N, {inputs}, {channels}, H, W), got one tensor of shape {tuple(u.shape)}."
            )
        return list(u.unbind(1))
    if len(xs) != inputs:
        raise ValueError(f"Fusion was built for {inputs} inputs, got {len(xs)}; build it with inputs={len(xs)}.")
    for i, x in enumerate(xs):
        if x.dim() != 4 or x.shape[1] != channels or x.shape != xs[0].shape:
            raise ValueError(
                f"Fusion input {i} has shape {tuple(x.shape)}; every input must be (N, {channels}, H, W) "
                f"with the same shape as input 0 {tuple(xs[0].shape)}."
            )
    return list(xs)


torch.fx.wrap("unpack_inputs")


class Fusion(nn.Module):
    """K inputs U_1..U_K → U = Σ U_k → squeeze → FC C→hidden → FC hidden→K·C → split into K → gate each →
    Σ a_k · U_k.

    Args:
        channels: C of every input.
        inputs: K >= 2.
        squeeze: a squeeze that keeps C (avg, max, dct, ...; ``h``/``w`` give per-row/column weights).
        excite: an excitation that can emit K·C logits (``fc``); the seed uses reduction 2.
        gate: ``sigmoid`` (the seed: each input weighted independently) or ``softmax`` (SKNet: the K weights of a
            channel sum to 1).

    Shapes: K tensors (N, C, H, W), a list of them, or one stacked (N, K, C, H, W) → (N, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        *,
        inputs: int = 2,
        squeeze: Any = "avg",
        excite: Any = None,
        gate: Any = "sigmoid",
    ):
        super().__init__()
        if inputs < 2:
            raise SpecError(f"a fusion block needs inputs >= 2 (K inputs to weigh), got {inputs}.")
        self.channels = channels
        self.inputs = inputs
        self.squeeze = SQUEEZE.build(squeeze, channels)
        if not self.squeeze.descriptor.keeps_channels:
            raise SpecError(
                "a fusion block weighs each input per channel, so its squeeze must keep C; this one pools C away "
                "(c, wc, hc). Use avg, max, avgmax, meanstd, dct, attn, h, w, ... ."
            )
        entry, options = EXCITE.resolve(excite if excite is not None else {"name": "fc", "reduction": 2})
        if not getattr(entry.factory, "supports_branches", False):
            able = [n for n in EXCITE.names() if getattr(EXCITE.get(n), "supports_branches", False)]
            raise SpecError(
                f"excite '{entry.name}' cannot emit K·C logits for a fusion block. Use one of: {', '.join(able)}."
            )
        self.excite = entry.factory(self.squeeze.descriptor, inputs, **options)
        self.gate = GATE.build(gate)

    def weights(self, total: torch.Tensor) -> torch.Tensor:
        """Sum of the inputs (N, C, H, W) → branch weights (N, K, C, H', W')."""
        z = self.excite(self.squeeze(total))
        n, _, h, w = z.shape
        return self.gate(z.reshape(n, self.inputs, self.channels, h, w))

    def attention(self, u: torch.Tensor) -> torch.Tensor:
        """Stacked inputs (N, K, C, H, W) → branch weights (N, K, C, H', W')."""
        return self.weights(u.sum(1))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        us = unpack_inputs(xs, self.inputs, self.channels)
        total = us[0]
        for k in range(1, self.inputs):
            total = total + us[k]
        a = self.weights(total)
        out = us[0] * a[:, 0]
        for k in range(1, self.inputs):
            out = out + us[k] * a[:, k]
        return out

    def extra_repr(self) -> str:
        return f"{self.channels}, inputs={self.inputs}"
