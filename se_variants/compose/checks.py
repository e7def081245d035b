"""Input checks shared by blocks: a wrong rank, channel count, dtype or mask fails with what was expected."""

from __future__ import annotations

import torch
import torch.fx

from ..descriptor import input_shape

__all__ = ["check_input", "MASK_BLOCKS"]

#: what a refused mask's message offers instead
MASK_BLOCKS = ("blocks whose squeeze pools every spatial axis (avg, max, std, avgmax, meanstd, attn, cluster; "
               "presets se, ese, eca, srm, gc, simam, scse, ecapa_se, x3d_se)")


def check_input(x: torch.Tensor, channels: int, dims: int, who: str, mask: torch.Tensor | None = None,
                mask_refusal: str | None = None) -> None:
    """Raise unless x is a floating-point (N, channels, *spatial) tensor with ``dims`` spatial axes, and ``mask``
    (if given) a bool (N, *spatial) tensor that the block can honour (``mask_refusal`` None).

    ValueError for shapes and masks, TypeError for a non-float x. A leaf for torch.fx.
    """
    if x.dim() != dims + 2:
        other = x.dim() - 2
        hint = (f"build it with dims={other} for {input_shape(other)} inputs, or reshape the input"
                if other in (1, 2, 3) else "add the missing dims (e.g. x[None] for one sample)")
        raise ValueError(
            f"{who} was built for dims={dims}: it expects a {dims + 2}-D input {input_shape(dims, channels)}, got "
            f"shape {tuple(x.shape)}; {hint}."
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{who} was built for C={channels} channels, got input with {x.shape[1]} (shape {tuple(x.shape)}); "
            f"build it with channels={x.shape[1]} or check where it is inserted."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{who} takes floating-point input (it multiplies x by a scale in (0, 1)), got {x.dtype}; convert "
            f"it first, e.g. x.float()."
        )
    if mask is None:
        return
    if mask_refusal is not None:
        raise ValueError(f"{who} cannot honour a mask: {mask_refusal}. Masks work with {MASK_BLOCKS}.")
    expected = (x.shape[0], *x.shape[2:])
    if mask.dtype != torch.bool or tuple(mask.shape) != expected:
        raise ValueError(
            f"{who}: mask must be a bool tensor (N, *spatial) = {expected}, True at valid positions, got "
            f"{mask.dtype} of shape {tuple(mask.shape)} (se_variants.lengths_to_mask builds one from lengths)."
        )


torch.fx.wrap("check_input")
