"""Optimizers (``optim:``) and learning-rate schedules (``schedule:``), by name, with typed options.

Every factory has a ``check(**options)`` (schedules: ``check(epochs, **options)``) that refuses what the factory
(or torch) would refuse, without building anything: the planner checks every job with it, and importing torch's
optimizer machinery costs more than planning a whole sweep. ``tests/runner/test_preflight.py`` checks that
``check`` refuses exactly what torch refuses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from ..registry import SpecError
from .registries import OPTIM, SCHEDULE

__all__ = ["OPTIM", "SCHEDULE"]


def _at_least(name: str, key: str, value: float, low: float = 0.0) -> None:
    if not value >= low:
        raise SpecError(f"{name}: {key} must be >= {low:g}, got {value}.")


def _check_sgd(*, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4, nesterov: bool = False) -> None:
    for key, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        _at_least("sgd", key, value)
    if nesterov and momentum <= 0:
        raise SpecError(f"sgd: nesterov momentum needs momentum > 0, got momentum={momentum}.")


def _check_adamw(*, lr: float = 1e-3, weight_decay: float = 0.05, betas: tuple[float, ...] = (0.9, 0.999)) -> None:
    _at_least("adamw", "lr", lr)
    _at_least("adamw", "weight_decay", weight_decay)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise SpecError(f"adamw: betas must be two numbers in [0, 1), e.g. [0.9, 0.999], got {list(betas)}.")


@OPTIM.register("sgd")
def sgd(params: Iterable[Any], *, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
        nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with momentum (He et al. 2016 CIFAR: lr 0.1, momentum 0.9, weight decay 1e-4)."""
    _check_sgd(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIM.register("adamw")
def adamw(params: Iterable[Any], *, lr: float = 1e-3, weight_decay: float = 0.05,
          betas: tuple[float, ...] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019)."""
    _check_adamw(lr=lr, weight_decay=weight_decay, betas=betas)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


sgd.check, adamw.check = _check_sgd, _check_adamw


def _check_warmup(name: str, warmup_epochs: int) -> None:
    # a warmup as long as the run is allowed (a recipe's warmup in a short smoke run): the lr just never peaks
    if warmup_epochs < 0:
        raise SpecError(f"{name}: warmup_epochs must be >= 0 (0: no warmup), got {warmup_epochs}.")


def _warm(epoch: int, warmup_epochs: int) -> float:
    return (epoch + 1) / (warmup_epochs + 1) if epoch < warmup_epochs else 1.0


def _check_cosine(epochs: int, *, warmup_epochs: int = 0, min_factor: float = 0.0) -> None:
    _check_warmup("cosine", warmup_epochs)
    if not 0.0 <= min_factor <= 1.0:
        raise SpecError(f"cosine: min_factor is the final lr as a fraction of the base lr, in [0, 1], got "
                        f"{min_factor}.")


def _check_multistep(epochs: int, *, milestones: tuple[float, ...] = (0.5, 0.75), gamma: float = 0.1,
                     warmup_epochs: int = 0) -> None:
    _check_warmup("multistep", warmup_epochs)
    if gamma <= 0:
        raise SpecError(f"multistep: gamma multiplies the lr at each milestone and must be > 0, got {gamma}.")
    bad = [m for m in milestones if not 0 < m < 1]
    if bad:
        raise SpecError(f"multistep: milestones are fractions of the run in (0, 1), got {bad}.")


def _check_constant(epochs: int, *, warmup_epochs: int = 0) -> None:
    _check_warmup("constant", warmup_epochs)


@SCHEDULE.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, epochs: int, *, warmup_epochs: int = 0,
           min_factor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, then cosine decay from the base lr to ``min_factor`` × base lr at the last epoch."""
    _check_cosine(epochs, warmup_epochs=warmup_epochs, min_factor=min_factor)
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
    _check_multistep(epochs, milestones=milestones, gamma=gamma, warmup_epochs=warmup_epochs)
    steps = sorted(round(m * epochs) for m in milestones)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: _warm(e, warmup_epochs) * gamma ** sum(e >= s for s in steps)
    )


@SCHEDULE.register("constant")
def constant(optimizer: torch.optim.Optimizer, epochs: int, *,
             warmup_epochs: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """The base lr throughout (after an optional linear warmup)."""
    _check_constant(epochs, warmup_epochs=warmup_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: _warm(e, warmup_epochs))


cosine.check, multistep.check, constant.check = _check_cosine, _check_multistep, _check_constant
