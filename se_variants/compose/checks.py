"""Input checks shared by blocks: wrong rank or channel count fails with what was expected."""

from __future__ import annotations

import torch
import torch.fx

__all__ = ["check_input"]


def check_input(x: torch.Tensor, channels: int, who: str) -> None:
    """Raise ValueError unless x is (N, channels, H, W)."""
    if x.dim() != 4:
        raise ValueError(
            f"{who} expects a 4-D input (N, C={channels}, H, W), got shape {tuple(x.shape)}; "
            f"add the missing dims (e.g. x[None] for one image, x[..., None, None] for a (N, C) vector)."
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{who} was built for C={channels} channels, got input with {x.shape[1]} (shape {tuple(x.shape)}); "
            f"build it with channels={x.shape[1]} or check where it is inserted."
        )


torch.fx.wrap("check_input")
