"""Optimizers (``optim:``) and learning-rate schedules (``schedule:``), by name, with typed options."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from ..registry import Registry, SpecError

__all__ = ["OPTIM", "SCHEDULE"]

#: ``factory(parameters, **options) -> torch.optim.Optimizer``
OPTIM = Registry("optim")
#: ``factory(optimizer, epochs, **options) -> LambdaLR``, stepped once per epoch
SCHEDULE = Registry("schedule")


@OPTIM.register("sgd")
def sgd(params: Iterable[Any], *, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
        nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with momentum (He et al. 2016 CIFAR: lr 0.1, momentum 0.9, weight decay 1e-4)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIM.register("adamw")
def adamw(params: Iterable[Any], *, lr: float = 1e-3, weight_decay: float = 0.05,
          betas: tuple[float, ...] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019)."""
    if len(betas) != 2:
        raise SpecError(f"adamw: betas must be two floats, e.g. [0.9, 0.999], got {list(betas)}.")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


def _check_warmup(name: str, warmup_epochs: int) -> None:
    # a warmup as long as the run is allowed (a recipe's warmup in a short smoke run): the lr just never peaks
    if warmup_epochs < 0:
        raise SpecError(f"{name}: warmup_epochs must be >= 0 (0: no warmup), got {warmup_epochs}.")


def _warm(epoch: int, warmup_epochs: int) -> float:
    return (epoch + 1) / (warmup_epochs + 1) if epoch < warmup_epochs else 1.0


@SCHEDULE.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, epochs: int, *, warmup_epochs: int = 0,
           min_factor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, then cosine decay from the base lr to ``min_factor`` × base lr at the last epoch."""
    _check_warmup("cosine", warmup_epochs)
    if not 0.0 <= min_factor <= 1.0:
        raise SpecError(f"cosine: min_factor is the final lr as a fraction of the base lr, in [0, 1], got {min_factor}.")
    span = max(epochs - warmup_epochs, 1)

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return _warm(epoch, warmup_epochs)
        t = min((epoch - warmup_epochs) / span, 1.0)
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@SCHEDULE.register("multistep")
def multistep(optimizer: torch.optim.Optimizer, epochs: int, *, milestones: tuple[float, ...] = (0.5, 0.75),
              gamma: float = 0.1, warmup_epochs: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Multiply the lr by ``gamma`` at each milestone, given as a fraction of the epochs (He et al. 2016 CIFAR:
    ÷10 at 32k and 48k of 64k iterations = 0.5 and 0.75)."""
    _check_warmup("multistep", warmup_epochs)
    if gamma <= 0:
        raise SpecError(f"multistep: gamma multiplies the lr at each milestone and must be > 0, got {gamma}.")
    bad = [m for m in milestones if not 0 < m < 1]
    if bad:
        raise SpecError(f"multistep: milestones are fractions of the run in (0, 1), got {bad}.")
    steps = sorted(round(m * epochs) for m in milestones)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: _warm(e, warmup_epochs) * gamma ** sum(e >= s for s in steps)
    )


@SCHEDULE.register("constant")
def constant(optimizer: torch.optim.Optimizer, epochs: int, *, warmup_epochs: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """The base lr throughout (after an optional linear warmup)."""
    _check_warmup("constant", warmup_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: _warm(e, warmup_epochs))
