"""Masks for padded batches: which positions of (N, C, *spatial) are valid.

A mask is a bool tensor (N, *spatial), True = valid. Blocks take it as ``block(x, mask=m)``: the squeeze's
statistics use valid positions only, and padded positions are still scaled (not zeroed), as speechbrain's
ECAPA-TDNN ``SEBlock`` does with ``lengths``.
"""

from __future__ import annotations

import torch

__all__ = ["lengths_to_mask"]


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
