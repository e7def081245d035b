"""Where a block goes in a residual unit: SENet's integration study (Hu et al., TPAMI 2019, Sec. 6.5, Fig. 5).

* ``standard``: on the residual branch, after its last BN, before the sum with the identity (SE-ResNet);
* ``pre``: on the residual branch, before its first conv (SE-PRE);
* ``post``: after the sum with the identity, after the ReLU (SE-POST);
* ``identity``: on the identity connection, in parallel to the residual branch (SE-Identity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from torch import nn

from ...factory import build_block
from ...registry import SpecError
from ...spec import is_baseline

__all__ = ["Placement", "PLACEMENTS", "make_block", "check_stages"]

Placement = Literal["standard", "pre", "post", "identity"]
PLACEMENTS: tuple[str, ...] = ("standard", "pre", "post", "identity")


def make_block(spec: Any, channels: int, dims: int = 2) -> nn.Module:
    """Build the block ``spec`` for ``channels`` and ``dims`` spatial axes, refusing blocks a model cannot insert.

    Multi-input fusion blocks (``multi_input``, ``name: fusion``) take K tensors; a residual unit has one.
    Shapes: the returned module maps (N, C, *spatial) → (N, C, *spatial).
    """
    block = build_block(spec, channels=channels, dims=dims)
    inputs = getattr(block, "inputs", 1)
    if isinstance(inputs, int) and inputs > 1:
        raise SpecError(
            f"this block is a {inputs}-input fusion block (its forward takes {inputs} tensors); a model inserts "
            f"single-input blocks into its residual units. Use it in your own model code, or pick a single-input "
            f"block (a preset such as se, eca, cbam, sk, or block=parts with squeeze/excite/gate)."
        )
    return block


def check_stages(stages: Sequence[int], count: int) -> tuple[int, ...]:
    """Validate 1-based stage indices against a model with ``count`` stages."""
    stages = tuple(stages)
    bad = [s for s in stages if not 1 <= s <= count]
    if bad:
        raise SpecError(f"stages {bad} out of range: this model has stages 1..{count}; e.g. stages=[2,3].")
    return stages


def block_maker(spec: Any, stages: tuple[int, ...], dims: int = 2) -> Callable[[int, int], nn.Module | None]:
    """``(stage, channels) -> block or None``: a block in the chosen stages, None elsewhere or for the baseline
    (no spec, or ``none``)."""

    def make(stage: int, channels: int) -> nn.Module | None:
        if is_baseline(spec) or stage not in stages:
            return None
        return make_block(spec, channels, dims)

    return make
