"""Masks for padded batches: which positions of (N, C, *spatial) are valid.

A mask is a bool tensor (N, *spatial), True = valid. Blocks take it as ``block(x, mask=m)``: the squeeze's
statistics use valid positions only, and padded positions are still scaled (not zeroed), as speechbrain's
ECAPA-TDNN ``SEBlock`` does with ``lengths``.
"""

from __future__ import annotations

import torch
import torch.fx

__all__ = ["lengths_to_mask", "padding_detached", "zero_padding"]


def lengths_to_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Valid-position mask (N, size) of sequences padded to ``size``.

    Args:
        lengths: (N,) -- integers: absolute lengths (position t is valid iff t < length); floating point:
            relative lengths in (0, 1], speechbrain's convention (valid iff t < length · size).
        size: the padded length L of x (N, C, L).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be a 1-D tensor (N,), got shape {tuple(lengths.shape)}.")
    bound = lengths * size if lengths.is_floating_point() else lengths
    return torch.arange(size, device=lengths.device)[None, :] < bound[:, None]


def padding_detached(s: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A scale s (N, C', *spatial') that multiplies x (N, C, *spatial), with the gradient that the padded
    positions (``mask`` (N, *spatial) False) would send back into it cut; s itself without a mask. A leaf for
    torch.fx.

    The backward of ``x * s`` gives s the sum of grad · x over the positions s is broadcast to: padding holding
    NaN or ±inf makes that sum NaN even where the padded outputs get no gradient (0 · NaN = NaN). Selecting the
    detached s at padded positions keeps the forward values (padded positions are still scaled) and drops those
    terms: torch.where's backward selects, it does not multiply. Call it as an attribute of this module
    (``masks.padding_detached`` after ``from .. import mask as masks``): torch.fx patches this module's global, so
    a name imported elsewhere would be traced through rather than kept a leaf.
    """
    if mask is None:
        return s
    return torch.where(mask.unsqueeze(1), s, s.detach())


torch.fx.wrap("padding_detached")


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """x (N, C, *spatial) with padded positions (``mask`` (N, *spatial) False) set to 0 by selection (torch.where),
    so that NaN or ±inf padding reaches no sum or product, forward or backward; x itself without a mask. A leaf for
    torch.fx (call it as ``masks.zero_padding``, see :func:`padding_detached`)."""
    if mask is None:
        return x
    return torch.where(mask.unsqueeze(1), x, 0.0)


torch.fx.wrap("zero_padding")
