"""The CIFAR ResNet of He et al. 2016 (Sec. 4.2): a 3×3 stem, three stages of n basic blocks with 16/32/64
filters, global average pooling and one FC; depth 6n + 2 (ResNet-20/32/44/56/110). On 8×8 inputs (digits) the
same network with n = 1 (``depth: 8``) is the small variant: feature maps 8 → 4 → 2.

``dims`` makes it a network of 1-D (kernel 3 convolutions along L: sequences, e.g. MNIST-1D) or 3-D (3×3×3:
volumes, video) convolutions with the same layout, shortcuts and block placements."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...descriptor import check_dims
from ...registry import SpecError
from ..registries import MODEL
from .placement import Placement, block_maker, check_stages

__all__ = ["CifarResNet", "BasicBlock", "cifar_resnet"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class ShortcutA(nn.Module):
    """He et al. 2016 option A: identity, subsampled by the stride, extra channels zero-padded (no parameters).

    Shapes: (N, C_in, *spatial) → (N, C_out, *⌈spatial/s⌉).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dims: int = 2):
        super().__init__()
        self.stride = stride
        self.pad = out_channels - in_channels
        self.index = (slice(None), slice(None)) + (slice(None, None, stride),) * dims
        self.padding = (0, 0) * dims + (0, self.pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[self.index]
        return F.pad(x, self.padding) if self.pad else x


def _shortcut(kind: str, in_channels: int, out_channels: int, stride: int, dims: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "A":
        return ShortcutA(in_channels, out_channels, stride, dims)
    return nn.Sequential(  # option B: 1×1 projection + BN
        _CONV[dims](in_channels, out_channels, 1, stride=stride, bias=False), _BN[dims](out_channels)
    )


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN + shortcut, ReLU; an attention block at one of SENet's placements.

    Args:
        in_channels, out_channels, stride: the unit's shape.
        shortcut: ``A`` (zero-padded identity, the paper's CIFAR choice) or ``B`` (1×1 projection).
        make: ``channels -> block or None`` (None: a plain residual unit).
        placement: ``standard``, ``pre``, ``post`` or ``identity`` (see ``models.placement``).
        dims: spatial dims (1, 2 or 3): kernel 3, 3×3 or 3×3×3.

    Shapes: (N, C_in, *spatial) → (N, C_out, *spatial/stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str, make: Any,
                 placement: Placement, dims: int = 2):
        super().__init__()
        conv, bn = _CONV[dims], _BN[dims]
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = bn(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = bn(out_channels)
        for c in (self.conv1, self.conv2):  # He init on the unit's own convs (blocks keep their own init)
            nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
        self.shortcut = _shortcut(shortcut, in_channels, out_channels, stride, dims)
        block = make(in_channels if placement == "pre" else out_channels)
        # every placement slot is an Identity unless the block sits there: forward() has no branches
        self.pre = block if placement == "pre" and block is not None else nn.Identity()
        self.attn = block if placement == "standard" and block is not None else nn.Identity()
        self.post = block if placement == "post" and block is not None else nn.Identity()
        self.skip = block if placement == "identity" and block is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(self.pre(x))), inplace=True)
        out = self.attn(self.bn2(self.conv2(out)))
        return self.post(F.relu(out + self.skip(self.shortcut(x)), inplace=True))


class CifarResNet(nn.Module):
    """He et al. 2016 CIFAR ResNet with attention blocks in its residual units.

    Shapes: (N, in_channels, *spatial) → logits (N, num_classes); any spatial size >= 4 per axis (global average
    pooling); ``dims`` spatial axes.
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int, widths: tuple[int, int, int],
                 shortcut: str, make: Any, placement: Placement, dims: int = 2):
        super().__init__()
        n = (depth - 2) // 6
        self.spatial = tuple(range(2, 2 + dims))
        self.stem = nn.Sequential(
            _CONV[dims](in_channels, widths[0], 3, padding=1, bias=False), _BN[dims](widths[0]), nn.ReLU(inplace=True)
        )
        stages, prev = [], widths[0]
        for i, width in enumerate(widths):
            units = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                units.append(BasicBlock(prev, width, stride, shortcut, lambda c, s=i + 1: make(s, c), placement, dims))
                prev = width
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(prev, num_classes)
        nn.init.kaiming_normal_(self.stem[0].weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(x.mean(self.spatial))


@MODEL.register("cifar_resnet")
def cifar_resnet(
    in_channels: int,
    num_classes: int,
    block: Any = None,
    *,
    depth: int = 20,
    widths: tuple[int, ...] = (16, 32, 64),
    shortcut: Literal["A", "B"] = "A",
    placement: Placement = "standard",
    stages: tuple[int, ...] = (1, 2, 3),
    dims: Literal[1, 2, 3] = 2,
) -> nn.Module:
    """CIFAR ResNet (He et al. 2016): depth 6n + 2 (20, 32, 56, 110; 8 is the small 8×8 variant).

    Args:
        depth: 6n + 2 layers, n basic blocks per stage.
        widths: filters of the three stages (paper: 16, 32, 64).
        shortcut: ``A`` zero-padded identity (paper, CIFAR) or ``B`` 1×1 projection.
        placement: where the block goes in each unit: standard, pre, post, identity (SENet Sec. 6.5).
        stages: 1-based stages that get blocks.
        dims: spatial dims of the input: 1 (N, C, L) sequences, 2 (N, C, H, W) images, 3 (N, C, D, H, W)
            volumes; the convolutions and the blocks follow.

    Shapes: (N, in_channels, *spatial) → (N, num_classes).
    """
    if depth < 8 or (depth - 2) % 6:
        raise SpecError(f"cifar_resnet: depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth}.")
    if len(widths) != 3 or min(widths) < 1:
        raise SpecError(f"cifar_resnet: widths must be three positive ints (paper: [16, 32, 64]), got {list(widths)}.")
    dims = check_dims(dims)
    return CifarResNet(in_channels, num_classes, depth, tuple(widths), shortcut,
                       block_maker(block, check_stages(stages, 3), dims), placement, dims)
