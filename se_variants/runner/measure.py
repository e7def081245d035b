"""Cost of a model: parameters, FLOPs (torch.utils.flop_counter) and measured inference latency."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from .. import flops

__all__ = ["count_params", "count_flops", "measure_latency"]


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one eval-mode forward pass on an input of ``shape`` (e.g. (1, C, H, W)), counted as
    ``se-variants show`` counts them (``se_variants.flops.count_flops``: 2 per multiply-add of convolutions,
    matrix products and attention, including CPU attention kernels torch's counter misses; elementwise ops are
    not)."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        return int(flops.count_flops(model, torch.zeros(shape, device=device)))
    finally:
        model.train(was_training)


@torch.no_grad()
def measure_latency(model: nn.Module, shape: tuple[int, ...], warmup: int = 5, repeats: int = 20) -> float:
    """Median wall time in milliseconds of one eval-mode forward pass on an input of ``shape``, after ``warmup``
    passes, on the model's device (CUDA is synchronised around each pass)."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = torch.randn(shape, device=device)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000.0
    finally:
        model.train(was_training)
