"""The multi-input fusion block (the seed's design; SKNet's selection is the softmax case)."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn

from ..descriptor import check_dims, input_shape
from ..registry import COMPOSE, EXCITE, GATE, SQUEEZE, SpecError
from .block import mask_refusal
from . import checks

__all__ = ["Fusion"]


def unpack_inputs(xs: tuple[Any, ...], inputs: int, channels: int, dims: int) -> list[torch.Tensor]:
    """K tensors, a list of them, or one stacked (N, K, C, *spatial) tensor → list of K (N, C, *spatial)
    tensors. A leaf for torch.fx (it checks shapes)."""
    if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
        xs = tuple(xs[0])
    shape = input_shape(dims, channels)
    if len(xs) == 1:
        u = xs[0]
        if u.dim() != dims + 3 or u.shape[1] != inputs or u.shape[2] != channels:
            raise ValueError(
                f"Fusion expects {inputs} inputs {shape} or one stacked tensor (N, {inputs}, {channels}, ...) "
                f"with {dims} spatial axes (dims={dims}), got one tensor of shape {tuple(u.shape)}."
            )
        return list(u.unbind(1))
    if len(xs) != inputs:
        raise ValueError(f"Fusion was built for {inputs} inputs, got {len(xs)}; build it with inputs={len(xs)}.")
    for i, x in enumerate(xs):
        if x.shape != xs[0].shape:
            raise ValueError(f"Fusion input {i} has shape {tuple(x.shape)}; every input must have input 0's shape "
                             f"{tuple(xs[0].shape)}, {shape} (dims={dims}).")
    return list(xs)


torch.fx.wrap("unpack_inputs")


@COMPOSE.register("fusion")
class Fusion(nn.Module):
    """K inputs U_1..U_K → U = Σ U_k → squeeze → FC C→hidden → FC hidden→K·C → split into K → gate each →
    Σ a_k · U_k.

    Args:
        channels: C of every input.
        dims: spatial dims of the inputs (1, 2 or 3).
        inputs: K >= 2.
        squeeze: a squeeze that keeps C (avg, max, dct, ...; ``h``/``w`` give per-row/column weights).
        excite: an excitation that can emit K·C logits (``fc``); the seed uses reduction 2.
        gate: ``sigmoid`` (the seed: each input weighted independently) or ``softmax`` (SKNet: the K weights of a
            channel sum to 1).

    Shapes: K tensors (N, C, *spatial), a list of them, or one stacked (N, K, C, *spatial) → (N, C, *spatial).
    ``forward`` takes no mask (its inputs are K tensors); for padded inputs, ``weights(Σ U_k, mask)`` gives the
    branch weights from valid positions only.
    """

    mask_refusal = ("a fusion block's forward takes K inputs and no mask; call fusion.weights(sum of the inputs, "
                    "mask) for branch weights over valid positions")

    def __init__(
        self,
        channels: int,
        dims: int = 2,
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
        self.dims = check_dims(dims)
        self.inputs = inputs
        self.squeeze = SQUEEZE.build(squeeze, channels, dims=self.dims)
        if not self.squeeze.descriptor.keeps_channels:
            raise SpecError(
                "a fusion block weighs each input per channel, so its squeeze must keep C; this one pools C away "
                "(c, wc, hc, proj). Use avg, max, avgmax, meanstd, dct, attn, h, w, ... ."
            )
        excite = excite if excite is not None else {"name": "fc", "reduction": 2}
        entry, options = EXCITE.resolve(excite)
        if not getattr(entry.factory, "supports_branches", False):
            able = [n for n in EXCITE.names() if getattr(EXCITE.get(n), "supports_branches", False)]
            raise SpecError(
                f"excite '{entry.name}' cannot emit K·C logits for a fusion block. Use one of: {', '.join(able)}."
            )
        self.excite = entry.factory(self.squeeze.descriptor, inputs, **options)
        self.gate = GATE.build(gate)
        self.pass_mask = self.squeeze.takes_mask
        self.weights_mask_refusal = mask_refusal(self.squeeze, SQUEEZE.split(squeeze)[0], self.excite, entry.name)

    def weights(self, total: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the inputs (N, C, *spatial) → branch weights (N, K, C, *spatial'); with ``mask`` (N, *spatial)
        bool, the squeeze's statistics use valid positions only."""
        checks.check_input(total, self.channels, self.dims, "Fusion.weights", mask, self.weights_mask_refusal)
        d = self.squeeze(total, mask) if self.pass_mask else self.squeeze(total)
        z = self.excite(d)
        spatial = (z.shape[i] for i in range(2, 2 + self.dims))
        return self.gate(z.reshape(z.shape[0], self.inputs, self.channels, *spatial))

    def attention(self, u: torch.Tensor) -> torch.Tensor:
        """Stacked inputs (N, K, C, *spatial) → branch weights (N, K, C, *spatial')."""
        return self.weights(u.sum(1))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        us = unpack_inputs(xs, self.inputs, self.channels, self.dims)
        total = us[0]
        for k in range(1, self.inputs):
            total = total + us[k]
        a = self.weights(total)
        out = us[0] * a[:, 0]
        for k in range(1, self.inputs):
            out = out + us[k] * a[:, k]
        return out

    def extra_repr(self) -> str:
        return f"{self.channels}, inputs={self.inputs}" + (f", dims={self.dims}" if self.dims != 2 else "")
