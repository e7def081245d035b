"""``dct``: FcaNet multi-spectral squeeze (Qin et al. 2021), for 2-D inputs and (frame-averaged) 3-D inputs."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.fx
import torch.nn.functional as F

from ..descriptor import Descriptor
from ..registry import SQUEEZE, SpecError
from .base import Squeeze

__all__ = ["DCTPool", "TOP_FREQUENCIES", "dct_filters"]

#: FcaNet's 32 best single-frequency components on the 7×7 grid, best first (the paper's "top" selection,
#: FcaNet official code); ``topN`` takes the first N.
TOP_FREQUENCIES: tuple[tuple[int, int], ...] = tuple(zip(
    (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1),
    (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3),
))


def _basis(pos: int, freq: int, length: int) -> float:
    value = math.cos(math.pi * freq * (pos + 0.5) / length) / math.sqrt(length)
    return value * math.sqrt(2) if freq else value


def dct_filters(channels: int, size: int, freqs: list[tuple[int, int]]) -> torch.Tensor:
    """(C, size, size) orthonormal 2-D DCT-II bases; channel c uses frequency ``freqs[c * len(freqs) // C]``.

    Frequencies are given on the 7×7 grid and scaled by ``size // 7`` (FcaNet). The (0, 0) basis is constant
    1/size, so its response is size × mean = sqrt(H·W) × mean.
    """
    scale = max(size // 7, 1)
    out = torch.empty(channels, size, size, dtype=torch.float64)
    for c in range(channels):
        u, v = freqs[c * len(freqs) // channels]
        bu = torch.tensor([_basis(i, u * scale, size) for i in range(size)], dtype=torch.float64)
        bv = torch.tensor([_basis(j, v * scale, size) for j in range(size)], dtype=torch.float64)
        out[c] = torch.outer(bu, bv)
    return out.float()


def fit_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """x (N, C, H, W) adaptively average-pooled to size × size unless it already is (FcaNet). A leaf for
    torch.fx."""
    if x.shape[-2] != size or x.shape[-1] != size:
        return F.adaptive_avg_pool2d(x, size)
    return x


torch.fx.wrap("fit_size")


@SQUEEZE.register("dct")
class DCTPool(Squeeze):
    """FcaNet multi-spectral pooling: channels are split into len(freqs) contiguous groups, each pooled with the
    2-D DCT basis of its frequency (a fixed, not learned, buffer).

    Args:
        freqs: ``topN`` selection (N in 1, 2, 4, 8, 16, 32) of FcaNet's ranked frequencies; ``top1`` is (0, 0),
            i.e. sqrt(H·W) × mean pooling.
        size: the DCT map size (FcaNet uses 56/28/14/7 per ResNet stage); inputs of another size are adaptively
            average-pooled to size × size first, as FcaNet does.

    When C is not a multiple of N the groups differ in size by one (FcaNet requires divisibility; where it holds
    the assignment is the same). 3-D inputs (N, C, D, H, W) are averaged over D (depth or time) first, then pooled
    as frames: the DCT's frequency along D is 0. FcaNet's frequencies are a 2-D selection, so 1-D inputs are
    refused. Shapes: (N, C, H, W) → (N, 1, C, 1, 1); (N, C, D, H, W) → (N, 1, C, 1, 1, 1).
    """

    mask_refusal = "its frequency bases span the whole map, padded positions included"

    def __init__(
        self,
        channels: int,
        dims: int = 2,
        *,
        freqs: Literal["top1", "top2", "top4", "top8", "top16", "top32"] = "top16",
        size: int = 7,
    ):
        super().__init__(channels, dims)
        if self.dims == 1:
            raise SpecError("dct squeeze: FcaNet's frequencies are chosen on a 2-D 7×7 grid, so there is no 1-D "
                            "version; for (N, C, L) inputs use avg, max, meanstd, attn or cluster.")
        if size < 1:
            raise SpecError(f"dct squeeze: size must be >= 1, got {size}.")
        n = int(freqs[3:])
        self.freqs = freqs
        self.size = size
        self.register_buffer("filters", dct_filters(channels, size, list(TOP_FREQUENCIES[:n])), persistent=False)
        self.descriptor = Descriptor(channels, 1, ("c",), dims=self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 3:
            x = x.mean(2)
        y = (fit_size(x, self.size) * self.filters).sum((2, 3), keepdim=True)
        return y.reshape(y.shape[0], 1, y.shape[1], *(1,) * self.dims)

    def extra_repr(self) -> str:
        return f"{self.channels}, freqs={self.freqs!r}, size={self.size}" + self._dims_repr()
