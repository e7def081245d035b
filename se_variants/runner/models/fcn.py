"""``fcn``: the Fully Convolutional Network for time series classification (Wang et al. 2017), as Ismail Fawaz et
al. 2019 ran it on the UCR/UEA archives (the published table this project compares with): three Conv1D blocks of
128, 256 and 128 filters with kernels 8, 5 and 3 (Keras ``same`` padding, bias, BatchNorm with Keras' defaults,
ReLU), global average pooling and a linear classifier (softmax in the loss).

An attention block goes after the ReLU of the conv blocks listed in ``stages`` -- MLSTM-FCN (Karim et al. 2019)
puts SE (reduction 16, FCs without bias) after blocks 1 and 2. With a NaN-padded batch (``data=ucr
data.variable_length=pad``) the mask reaches every convolution (zeros at the padding), every BatchNorm (statistics
of the valid positions), every block (``block(x, mask=m)``) and the pooling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import SpecError
from ..registries import MODEL
from .placement import block_maker, check_stages
from .tsc_layers import ConvBN, Init, keras_init, masked_mean, padding_mask

__all__ = ["FCN", "fcn", "FCN_WIDTHS", "FCN_KERNELS"]

#: filters of the three conv blocks (Wang et al. 2017; Ismail Fawaz et al. 2019, classifiers/fcn.py)
FCN_WIDTHS = (128, 256, 128)
#: their kernel sizes (same sources)
FCN_KERNELS = (8, 5, 3)


class FCN(nn.Module):
    """Conv blocks (ConvBN → ReLU → optional attention block) → masked global average pooling → Linear.

    Args:
        in_channels, num_classes: C and K.
        widths, kernels: filters and kernel size of each conv block.
        make: ``(stage, channels) -> block or None``, stage 1-based.
        padded: whether inputs may be NaN-padded (then each forward looks for the padding and masks it).

    Shapes: (N, C, L) → logits (N, K); with ``padded``, NaN after a series' end marks padding (see
    :func:`.tsc_layers.padding_mask`).
    """

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...], kernels: tuple[int, ...],
                 make: Any, padded: bool = False):
        super().__init__()
        self.padded = padded
        chans = (in_channels, *widths)
        self.convs = nn.ModuleList(ConvBN(chans[i], chans[i + 1], k) for i, k in enumerate(kernels))
        blocks = [make(i + 1, w) for i, w in enumerate(widths)]
        self.blocks = nn.ModuleList(b if b is not None else nn.Identity() for b in blocks)
        self.has_block = [b is not None for b in blocks]
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(x, self.padded)
        for conv, block, has in zip(self.convs, self.blocks, self.has_block):
            x = F.relu(conv(x, mask))
            if has:
                x = block(x) if mask is None else block(x, mask=mask)
        return self.fc(masked_mean(x, mask))


@MODEL.register("fcn")
def fcn(
    in_channels: int,
    num_classes: int,
    block: Any = None,
    *,
    stages: tuple[int, ...] = (1, 2),
    widths: tuple[int, ...] = FCN_WIDTHS,
    kernels: tuple[int, ...] = FCN_KERNELS,
    init: Init = "keras",
    padded: bool = False,
) -> nn.Module:
    """Fawaz et al.'s FCN for (N, C, L) series, with blocks after the conv blocks in ``stages``.

    Args:
        stages: 1-based conv blocks followed by the attention block (MLSTM-FCN: 1 and 2).
        widths, kernels: filters and kernel size of each conv block (paper: 128/256/128, 8/5/3).
        init: ``keras`` (default: glorot-uniform weights, zero biases -- the initialisation of the published
            runs, which this model is compared with) or ``torch`` (PyTorch's defaults). Blocks keep their own.
        padded: inputs may be series NaN-padded after their end, which the model masks (a job sets it from its
            data: ``data.variable_length=pad`` of a dataset whose series differ in length).

    Shapes: (N, in_channels, L) → (N, num_classes); any L >= 1.
    """
    widths, kernels = tuple(widths), tuple(kernels)
    if not widths or len(widths) != len(kernels) or min(widths) < 1 or min(kernels) < 1:
        raise SpecError(f"fcn: widths and kernels give one conv block each: equally many positive ints (paper: "
                        f"[128, 256, 128] and [8, 5, 3]), got {list(widths)} and {list(kernels)}.")
    model = FCN(in_channels, num_classes, widths, kernels, block_maker(block, check_stages(stages, len(widths)), 1),
                padded)
    if init == "keras":
        keras_init(model, skip=tuple(model.blocks))
    return model


fcn.dims = 1  # (N, C, L) sequences
