"""torchvision ResNets with the block inserted into their residual units (BasicBlock or Bottleneck)."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from ..registries import MODEL
from .placement import Placement, block_maker, check_stages

__all__ = ["torchvision_resnet", "insert_blocks"]


def _insert(unit: nn.Module, make: Any, placement: Placement) -> nn.Module:
    """Put a block into one torchvision BasicBlock/Bottleneck; returns the (possibly wrapped) unit."""
    last_bn = "bn3" if hasattr(unit, "bn3") else "bn2"
    out_channels = getattr(unit, last_bn).num_features
    if placement == "pre":
        block = make(unit.conv1.in_channels)
        if block is not None:
            unit.conv1 = nn.Sequential(block, unit.conv1)
        return unit
    block = make(out_channels)
    if block is None:
        return unit
    if placement == "standard":
        setattr(unit, last_bn, nn.Sequential(getattr(unit, last_bn), block))
    elif placement == "identity":  # forward() calls downsample on the identity when it is not None
        unit.downsample = block if unit.downsample is None else nn.Sequential(unit.downsample, block)
    else:  # post: after the sum and the ReLU
        return nn.Sequential(unit, block)
    return unit


def insert_blocks(model: nn.Module, make: Any, placement: Placement) -> nn.Module:
    """Insert ``make(stage, channels)`` blocks into every unit of ``model.layer1..layer4`` (in place).

    Shapes are unchanged: each block maps (N, C, H, W) → (N, C, H, W).
    """
    for stage in range(1, 5):
        layer = getattr(model, f"layer{stage}")
        for i, unit in enumerate(list(layer)):
            layer[i] = _insert(unit, lambda c, s=stage: make(s, c), placement)
    return model


@MODEL.register("torchvision")
def torchvision_resnet(
    in_channels: int,
    num_classes: int,
    block: Any = None,
    *,
    arch: Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] = "resnet18",
    placement: Placement = "standard",
    stages: tuple[int, ...] = (1, 2, 3, 4),
    small_input: bool = False,
) -> nn.Module:
    """A torchvision ResNet (random init) with blocks in its residual units.

    Args:
        arch: resnet18 / 34 (BasicBlock), resnet50 / 101 / 152 (Bottleneck).
        placement: standard (after the last BN of the branch), pre, post, identity (SENet Sec. 6.5).
        stages: 1-based stages (layer1..layer4) that get blocks.
        small_input: CIFAR-style stem for small images: 3×3 stride-1 first conv, no max-pool.

    Shapes: (N, in_channels, H, W) → (N, num_classes).
    """
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if small_input:
        model.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return insert_blocks(model, block_maker(block, check_stages(stages, 4)), placement)
