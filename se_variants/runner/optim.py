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


def _check_adam(*, lr: float = 1e-3, betas: tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8) -> None:
    _at_least("adam", "lr", lr)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise SpecError(f"adam: betas must be two numbers in [0, 1), e.g. [0.9, 0.999], got {list(betas)}.")
    if not eps > 0:
        raise SpecError(f"adam: eps must be > 0 (Keras: 1e-7, torch: 1e-8), got {eps}.")


@OPTIM.register("adam")
def adam(params: Iterable[Any], *, lr: float = 1e-3, betas: tuple[float, ...] = (0.9, 0.999),
         eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) without weight decay; Keras' defaults are lr 1e-3, betas (0.9, 0.999), eps 1e-7
    (Ismail Fawaz et al. 2019's recipe; configs/optim/adam.yaml). Keras adds eps to √v before the bias correction,
    torch after it, so the same eps weighs up to 1/√(1 − β₂ᵗ) times more in torch's first steps (×1.0 after a few
    thousand steps)."""
    _check_adam(lr=lr, betas=betas, eps=eps)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)


sgd.check, adamw.check, adam.check = _check_sgd, _check_adamw, _check_adam


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


def _check_plateau(epochs: int, *, factor: float = 0.5, patience: int = 50, min_lr: float = 1e-4,
                   min_delta: float = 1e-4) -> None:
    if not 0.0 < factor < 1.0:
        raise SpecError(f"plateau: factor multiplies the lr at a plateau and must be in (0, 1), got {factor}.")
    if patience < 1:
        raise SpecError(f"plateau: patience is the epochs without improvement before the lr is cut, >= 1, got "
                        f"{patience}.")
    _at_least("plateau", "min_lr", min_lr)
    _at_least("plateau", "min_delta", min_delta)


@SCHEDULE.register("plateau")
def plateau(optimizer: torch.optim.Optimizer, epochs: int, *, factor: float = 0.5, patience: int = 50,
            min_lr: float = 1e-4, min_delta: float = 1e-4) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """Reduce the lr on a plateau of the TRAINING loss, as Keras' ``ReduceLROnPlateau(monitor='loss', factor=0.5,
    patience=50, min_lr=1e-4)`` in Ismail Fawaz et al. 2019: after ``patience`` epochs in a row whose training loss
    is not below the best so far minus ``min_delta`` (Keras' default 1e-4, absolute), lr ← max(lr · factor,
    min_lr), and the count starts again. It is torch's ReduceLROnPlateau with ``patience - 1`` (torch cuts after
    more than ``patience`` bad epochs, Keras after ``patience``) and an absolute threshold. The runner's module
    steps it with each epoch's mean training loss, before the epoch's checkpoint (lit.py)."""
    _check_plateau(epochs, factor=factor, patience=patience, min_lr=min_lr, min_delta=min_delta)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience - 1,
                                                      threshold=min_delta, threshold_mode="abs", min_lr=min_lr)


cosine.check, multistep.check, constant.check = _check_cosine, _check_multistep, _check_constant
plateau.check = _check_plateau
