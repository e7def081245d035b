"""``resnet_tsc``: the residual network for time series classification (Wang et al. 2017) as Ismail Fawaz et al.
2019 ran it (classifiers/resnet.py of their repository): three residual units of 64, 128 and 128 filters, each
ConvBN(k 8) → ReLU → ConvBN(k 5) → ReLU → ConvBN(k 3), added to a shortcut -- a 1×1 ConvBN where the width changes,
a BatchNorm alone where it does not -- and a ReLU; global average pooling and a linear classifier. Keras layers as
in ``fcn`` (same padding, bias, BatchNorm with Keras' defaults). Fawaz et al. trained it 1500 epochs with batches
of int(min(N_train / 10, 64)).

Attention blocks go into the units listed in ``stages`` at one of SENet's placements (``models.placement``);
NaN-padded batches are masked as in ``fcn``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import SpecError
from ..registries import MODEL
from .placement import Placement, block_maker, check_stages
from .tsc_layers import KERAS_BN_EPS, KERAS_BN_MOMENTUM, ConvBN, Init, MaskedBatchNorm1d, keras_init, masked_mean, \
    padding_mask

__all__ = ["ResidualUnit", "ResNetTSC", "resnet_tsc", "RESNET_TSC_WIDTHS", "RESNET_TSC_KERNELS"]

#: filters of the three residual units (Wang et al. 2017; Ismail Fawaz et al. 2019)
RESNET_TSC_WIDTHS = (64, 128, 128)
#: kernel sizes of the three ConvBN layers of every unit (same sources)
RESNET_TSC_KERNELS = (8, 5, 3)


class ResidualUnit(nn.Module):
    """Three ConvBN layers (ReLU between) plus a shortcut, then ReLU; a block at one placement.

    Shapes: (N, C_in, L) → (N, C_out, L)."""

    def __init__(self, in_channels: int, out_channels: int, kernels: tuple[int, ...], make: Any,
                 placement: Placement):
        super().__init__()
        chans = (in_channels, *(out_channels,) * len(kernels))
        self.convs = nn.ModuleList(ConvBN(chans[i], chans[i + 1], k) for i, k in enumerate(kernels))
        self.shortcut = ConvBN(in_channels, out_channels, 1) if in_channels != out_channels else \
            MaskedBatchNorm1d(out_channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)
        self.placement = placement
        self.block = make(in_channels if placement == "pre" else out_channels)

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None, here: str) -> torch.Tensor:
        if self.block is None or self.placement != here:
            return x
        return self.block(x) if mask is None else self.block(x, mask=mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self._attend(x, mask, "pre")
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(h, mask)
            h = F.relu(h) if i + 1 < len(self.convs) else h
        h = self._attend(h, mask, "standard")
        s = self._attend(self.shortcut(x, mask), mask, "identity")
        return self._attend(F.relu(h + s), mask, "post")


class ResNetTSC(nn.Module):
    """Residual units → masked global average pooling → Linear.

    Shapes: (N, C, L) → logits (N, K); with ``padded``, NaN after a series' end marks padding."""

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...], kernels: tuple[int, ...],
                 make: Any, placement: Placement, padded: bool = False):
        super().__init__()
        self.padded = padded
        chans = (in_channels, *widths)
        self.units = nn.ModuleList(
            ResidualUnit(chans[i], chans[i + 1], kernels, lambda c, s=i + 1: make(s, c), placement)
            for i in range(len(widths)))
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(x, self.padded)
        for unit in self.units:
            x = unit(x, mask)
        return self.fc(masked_mean(x, mask))


@MODEL.register("resnet_tsc")
def resnet_tsc(
    in_channels: int,
    num_classes: int,
    block: Any = None,
    *,
    placement: Placement = "standard",
    stages: tuple[int, ...] = (1, 2, 3),
    widths: tuple[int, ...] = RESNET_TSC_WIDTHS,
    kernels: tuple[int, ...] = RESNET_TSC_KERNELS,
    init: Init = "keras",
    padded: bool = False,
) -> nn.Module:
    """Fawaz et al.'s ResNet for (N, C, L) series, with blocks in the residual units of ``stages``.

    Args:
        placement: where the block goes in a unit: standard (after the last BN of the branch, before the sum),
            pre, post, identity (SENet Sec. 6.5).
        stages: 1-based residual units that get a block.
        widths: filters of each unit (paper: 64, 128, 128); kernels: of the ConvBN layers in every unit (8, 5, 3).
        init: ``keras`` (default, as published: glorot-uniform weights, zero biases) or ``torch``.
        padded: inputs may be NaN-padded series, which the model masks (a job sets it from its data).

    Shapes: (N, in_channels, L) → (N, num_classes).
    """
    widths, kernels = tuple(widths), tuple(kernels)
    if not widths or not kernels or min(widths) < 1 or min(kernels) < 1:
        raise SpecError(f"resnet_tsc: widths (one per unit) and kernels (one per ConvBN of a unit) must be "
                        f"positive ints (paper: [64, 128, 128] and [8, 5, 3]), got {list(widths)} and {list(kernels)}.")
    model = ResNetTSC(in_channels, num_classes, widths, kernels,
                      block_maker(block, check_stages(stages, len(widths)), 1), placement, padded)
    if init == "keras":
        keras_init(model, skip=tuple(u.block for u in model.units if u.block is not None))
    return model


resnet_tsc.dims = 1  # (N, C, L) sequences
