"""``attn``: self-attention among channels (every channel's logit depends on every other channel's descriptor
through a C×C attention); ``conv_attn``: a local conv and the global attention, summed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..descriptor import Descriptor
from ..registry import EXCITE, SpecError
from .base import Excite
from .conv import ConvExcite

__all__ = ["ChannelSelfAttention", "ConvAttention"]


@EXCITE.register("attn")
class ChannelSelfAttention(Excite):
    """Single-head self-attention whose tokens are the channels.

    Each channel's S statistics are embedded to ``dim`` features plus a learned per-channel embedding (so the
    attention knows which channel is which); softmax(Q Kᵀ / √dim) is the C×C attention; the attended values,
    added to the token (residual), are projected to one logit per channel.

    * Descriptors keeping C: tokens are the C channels; other kept axes (``h``, ``w``, ``d``) are attended
      separately, position by position, with shared weights.
    * Descriptors without C (``c``, ``wc``, ``hc``): tokens are the kept positions (spatial self-attention,
      no positional embedding, any size).

    Args:
        dim: embedding width of a token.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial'). Cost: O(C² · dim) per kept position.
    """

    def __init__(self, descriptor: Descriptor, *, dim: int = 16):
        super().__init__(descriptor)
        if dim < 1:
            raise SpecError(f"attn: dim must be >= 1, got {dim}.")
        self.dim = dim
        self.over_channels = descriptor.keeps_channels
        self.embed = nn.Linear(descriptor.stats, dim)
        if self.over_channels:
            self.position = nn.Parameter(torch.randn(descriptor.channels, dim) * 0.02)
        else:
            self.register_parameter("position", None)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, 1)
        spatial = descriptor.dims
        # (N, S, C, *sp) → (N, *sp, C, S): the tokens of one position together, and back
        self.to_tokens = (0, *range(3, 3 + spatial), 2, 1)
        self.from_tokens = (0, spatial + 1, *range(1, spatial + 1))
        self.mixes_positions = not self.over_channels

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        n, s, c = d.shape[0], d.shape[1], d.shape[2]
        sp = [d.shape[i] for i in range(3, 3 + self.descriptor.dims)]
        positions = 1
        for size in sp:
            positions *= size
        if self.over_channels:
            t = d.permute(self.to_tokens).reshape(n * positions, c, s)  # tokens: channels
            e = self.embed(t) + self.position
        else:
            t = d.reshape(n, s, positions).transpose(1, 2)  # tokens: positions
            e = self.embed(t)
        q, k, v = self.qkv(e).chunk(3, dim=-1)
        e = e + F.scaled_dot_product_attention(q, k, v)
        y = self.out(e)  # (B, tokens, 1)
        if self.over_channels:
            return y.reshape(n, *sp, c).permute(self.from_tokens)
        return y.reshape(n, 1, *sp)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, tokens={'channels' if self.over_channels else 'positions'}"


@EXCITE.register("conv_attn")
class ConvAttention(Excite):
    """Local and global channel modelling together: the logits of ``conv1d`` (local, along the kept axes) and
    ``attn`` (global self-attention) are summed.

    Args:
        kernel_size: the conv's kernel (None: ECA adaptive k on channels, 7 on spatial axes).
        dim: the attention's embedding width.

    Shapes: (N, S, C', *spatial') → (N, C', *spatial').
    """

    def __init__(self, descriptor: Descriptor, *, kernel_size: int | None = None, dim: int = 16):
        super().__init__(descriptor)
        self.local = ConvExcite(descriptor, kernel_size=kernel_size)
        self.glob = ChannelSelfAttention(descriptor, dim=dim)
        self.mixes_positions = self.local.mixes_positions or self.glob.mixes_positions

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.local(d) + self.glob(d)
