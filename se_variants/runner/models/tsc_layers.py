"""Layers of the time series classifiers of Ismail Fawaz et al. 2019 (``fcn``, ``resnet_tsc``), as Keras builds
them, and the masks of NaN-padded batches.

* :class:`ConvBN`: Conv1d with Keras' ``padding='same'`` (k − 1 zeros, (k − 1) // 2 on the left: for k = 8, 3 left
  and 4 right), a bias (Keras' default), then BatchNorm with Keras' defaults (epsilon 1e-3, momentum 0.99 = torch
  momentum 0.01);
* :class:`MaskedBatchNorm1d`: that BatchNorm, whose training statistics use the valid positions only;
* :func:`padding_mask`, :func:`masked_mean`: a batch padded with NaN after each series' end (``data=ucr
  data.variable_length=pad``) → the (N, L) mask of valid positions; global average pooling over them.

With a mask, every convolution sees zeros where the padding is, so in eval mode a padded series gives exactly the
outputs of the series alone; in train mode BatchNorm's statistics leave the padding out.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ... import mask as masks

__all__ = ["ConvBN", "keras_same", "MaskedBatchNorm1d", "padding_mask", "masked_mean", "keras_init", "KERAS_BN_EPS",
           "KERAS_BN_MOMENTUM", "Init"]

#: Keras BatchNormalization's default epsilon
KERAS_BN_EPS = 1e-3
#: Keras BatchNormalization's default momentum 0.99 (moving = 0.99 · moving + 0.01 · batch), in torch's convention
KERAS_BN_MOMENTUM = 0.01
#: ``keras``: glorot-uniform weights and zero biases (Keras' defaults, what the published runs used); ``torch``:
#: PyTorch's default initialisation of Conv1d and Linear
Init = Literal["keras", "torch"]


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (N, C, L); with ``mask`` (N, L) bool (True = valid) in train mode, the batch mean and the
    (biased) variance that normalise, and the running statistics (unbiased variance, as torch), come from the
    valid positions only. Without a mask, or in eval mode, it is torch's BatchNorm1d.

    Shapes: (N, C, L) → (N, C, L)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or not self.training:
            return super().forward(x)
        valid = mask.unsqueeze(1)  # (N, 1, L)
        n = valid.sum()
        mean = torch.where(valid, x, 0.0).sum((0, 2)) / n
        centred = torch.where(valid, x - mean[:, None], 0.0)
        var = centred.pow(2).sum((0, 2)) / n
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp(min=1), alpha=m)
                self.num_batches_tracked.add_(1)
        y = (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        return y * self.weight[:, None] + self.bias[:, None] if self.affine else y


def keras_same(kernel_size: int) -> tuple[int, int]:
    """(left, right) zeros of Keras' ``padding='same'`` at stride 1: k − 1 in all, (k − 1) // 2 on the left."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


class ConvBN(nn.Module):
    """Keras' ``Conv1D(filters, k, padding='same')`` (with bias) and ``BatchNormalization()``; padded positions
    (``mask`` False) are zeroed before the convolution.

    Shapes: (N, C_in, L) → (N, C_out, L)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        left, right = keras_same(kernel_size)
        # an odd kernel pads alike on both sides (the conv does it); an even one gets its extra zero on the right
        self.pad = (left, right) if left != right else None
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=left if self.pad is None else 0)
        self.bn = MaskedBatchNorm1d(out_channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = masks.zero_padding(x, mask)
        return self.bn(self.conv(x if self.pad is None else F.pad(x, self.pad)), mask)


def padding_mask(x: torch.Tensor, padded: bool = True) -> torch.Tensor | None:
    """The (N, L) mask of the positions before each series' NaN padding (True = valid), or None when x holds no
    NaN. A series is padded in every channel alike, so the first channel says where. With ``padded=False`` (a
    model built for data without padding) it is None without looking: looking costs a pass over the batch and a
    wait for its result on every forward.

    Shapes: (N, C, L) → (N, L) bool or None."""
    if not padded:
        return None
    nan = torch.isnan(x[:, 0])
    return ~nan if bool(nan.any()) else None


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Global average pooling over the valid positions (all of them without a mask).

    Shapes: (N, C, L), (N, L) → (N, C)."""
    if mask is None:
        return x.mean(2)
    return masks.zero_padding(x, mask).sum(2) / mask.sum(1, keepdim=True).clamp(min=1)


def keras_init(model: nn.Module, skip: tuple[nn.Module, ...] = ()) -> None:
    """Keras' default initialisation of the Conv1d and Linear layers of ``model`` that are not inside one of
    ``skip`` (attention blocks keep their own): glorot-uniform weights -- U(±√(6 / (fan_in + fan_out))), fans
    counting the kernel size as torch's xavier_uniform_ does -- and zero biases. BatchNorm layers start at
    weight 1, bias 0 in both libraries."""
    inside = {id(m) for block in skip for m in block.modules()}
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Linear)) and id(module) not in inside:
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
