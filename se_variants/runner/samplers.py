"""A search's samplers and pruners by name, with typed options passed through to Optuna: the entries of ``SAMPLER``
and ``PRUNER`` (:mod:`.registries`), as :mod:`.optim` fills ``OPTIM`` and ``SCHEDULE``.

``hydra.sweeper.sampler`` names a sampler (``name: tpe``) and sets its options (``n_startup_trials: 2``; every
sampler takes ``seed``); ``hydra.sweeper.pruner`` likewise. An unknown name or option is refused with "did you
mean". hydra-optuna-sweeper's way of naming one, ``_target_: optuna.samplers.TPESampler``, is read as the entry of
that class (:data:`TARGETS`); no other ``_target_`` is ever instantiated. Your own sampler or pruner is an entry
too: register it in a module named by ``imports``.

A sampler factory takes the search space (key → Optuna distribution; the grid sampler enumerates it) and its
options. Three marks say what a sampler can do: ``multi_objective`` (it samples for several objectives),
``keeps_seed`` (its seed fixes a sequence whose place the study keeps -- QMC's points, the grid's order --, so
every trial gets the search's seed itself rather than one drawn per trial, :class:`.study.ContinuedSampler`) and
``needs`` (a module it imports, named when it is missing).

Optuna is imported when a sampler or pruner is built, not with this module: ``se-variants list`` shows the entries
where the search extra is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..registry import Registry, SpecError, spec_to_dict
from .registries import PRUNER, SAMPLER

__all__ = ["SAMPLER", "PRUNER", "TARGETS", "DEFAULT_SAMPLER", "DEFAULT_PRUNER", "MAX_SEED", "resolve", "grid_values",
           "can", "build_pruner"]

DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "none"
#: the largest seed Optuna's samplers (numpy) take
MAX_SEED = 2**32 - 1

#: hydra-optuna-sweeper's ``_target_`` class paths → our entries (the only classes a config may name)
TARGETS = {
    "optuna.samplers.TPESampler": "tpe", "optuna.samplers.RandomSampler": "random",
    "optuna.samplers.CmaEsSampler": "cmaes", "optuna.samplers.GridSampler": "grid",
    "optuna.samplers.NSGAIISampler": "nsgaii", "optuna.samplers.QMCSampler": "qmc",
    "optuna.samplers.GPSampler": "gp",
    "optuna.pruners.NopPruner": "none", "optuna.pruners.MedianPruner": "median",
    "optuna.pruners.PercentilePruner": "percentile", "optuna.pruners.HyperbandPruner": "hyperband",
    "optuna.pruners.SuccessiveHalvingPruner": "successive_halving", "optuna.pruners.ThresholdPruner": "threshold",
}
#: class paths of hydra-optuna-sweeper's configs that Optuna no longer has, and what replaced them
_REMOVED = {"optuna.samplers.MOTPESampler": "Optuna 4 removed MOTPESampler: TPESampler handles several objectives "
                                            "(sampler.name=tpe)"}


def _marks(*, multi_objective: bool, keeps_seed: bool = False, needs: str | None = None) -> Callable[[Any], Any]:
    def deco(factory: Any) -> Any:
        factory.multi_objective, factory.keeps_seed, factory.needs = multi_objective, keeps_seed, needs
        return factory

    return deco


def can(entry_factory: Any, mark: str) -> Any:
    """A sampler factory's mark (``multi_objective``, ``keeps_seed``, ``needs``); your own sampler without marks is
    single-objective and reseeded per trial."""
    return getattr(entry_factory, mark, {"multi_objective": False, "keeps_seed": False}.get(mark))


# ------------------------------------------------------------------------------------------------- samplers


@SAMPLER.register("tpe")
@_marks(multi_objective=True)
def tpe(space: Mapping[str, Any], *, seed: int | None = None, n_startup_trials: int = 10,
        n_ei_candidates: int = 24, multivariate: bool | None = None, group: bool = False,
        constant_liar: bool = True) -> Any:
    """Tree-structured Parzen estimator (Bergstra et al. 2011), Optuna's default; one or several objectives.

    ``multivariate: null`` leaves the choice to Optuna (independent TPE)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, n_ei_candidates=n_ei_candidates,
                                      multivariate=multivariate, group=group, constant_liar=constant_liar)


@SAMPLER.register("random")
@_marks(multi_objective=True)
def random(space: Mapping[str, Any], *, seed: int | None = None) -> Any:
    """Independent uniform draws (log-uniform on a tag(log, ...) interval)."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


@SAMPLER.register("cmaes")
@_marks(multi_objective=False, needs="cmaes")
def cmaes(space: Mapping[str, Any], *, seed: int | None = None, n_startup_trials: int = 1, popsize: int | None = None,
          use_separable_cma: bool = False, with_margin: bool = False, lr_adapt: bool = False,
          consider_pruned_trials: bool = False, warn_independent_sampling: bool = False) -> Any:
    """CMA-ES (Hansen 2016) over the numeric parameters, one objective; categorical ones are drawn at random.

    Optuna's options it deprecates or ignores (x0, sigma0, restart_strategy, inc_popsize) are not offered."""
    import optuna

    return optuna.samplers.CmaEsSampler(
        seed=seed, n_startup_trials=n_startup_trials, popsize=popsize, use_separable_cma=use_separable_cma,
        with_margin=with_margin, lr_adapt=lr_adapt, consider_pruned_trials=consider_pruned_trials,
        warn_independent_sampling=warn_independent_sampling)


def grid_values(space: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every value of every key of ``space`` (choices, or the integers of a range); a SpecError for a key whose
    values cannot be listed (a float interval, a log-scaled one)."""
    out = {}
    for key, dist in space.items():
        if hasattr(dist, "choices"):
            out[key] = list(dist.choices)
        elif type(dist).__name__ == "IntDistribution" and not dist.log:
            out[key] = list(range(dist.low, dist.high + 1, dist.step))
        else:
            raise SpecError(f"{key}: the grid sampler needs listed values (choice(...), a,b or range(...)); an "
                            f"interval has none. Use hydra.sweeper.sampler.name=tpe (or random) for intervals.")
    return out


@SAMPLER.register("grid")
@_marks(multi_objective=True, keeps_seed=True)
def grid(space: Mapping[str, Any], *, seed: int | None = None) -> Any:
    """Every point of a listed space once, in an order drawn from the seed; a search has as many trials as points."""
    import optuna

    return optuna.samplers.GridSampler(grid_values(space), seed=seed)


_CROSSOVERS = {"uniform": "UniformCrossover", "blxalpha": "BLXAlphaCrossover", "sbx": "SBXCrossover",
               "vsbx": "VSBXCrossover", "undx": "UNDXCrossover", "spx": "SPXCrossover"}


@SAMPLER.register("nsgaii")
@_marks(multi_objective=True)
def nsgaii(space: Mapping[str, Any], *, seed: int | None = None, population_size: int = 50,
           mutation_prob: float | None = None,
           crossover: Literal["uniform", "blxalpha", "sbx", "vsbx", "undx", "spx"] = "uniform",
           crossover_prob: float = 0.9, swapping_prob: float = 0.5) -> Any:
    """NSGA-II (Deb et al. 2002), the genetic algorithm for several objectives (one works too)."""
    import optuna

    return optuna.samplers.NSGAIISampler(
        seed=seed, population_size=population_size, mutation_prob=mutation_prob,
        crossover=getattr(optuna.samplers.nsgaii, _CROSSOVERS[crossover])(), crossover_prob=crossover_prob,
        swapping_prob=swapping_prob)


@SAMPLER.register("qmc")
@_marks(multi_objective=True, keeps_seed=True)
def qmc(space: Mapping[str, Any], *, seed: int | None = None, qmc_type: Literal["sobol", "halton"] = "sobol",
        scramble: bool = False) -> Any:
    """Quasi-Monte Carlo points (Sobol or Halton) spread evenly over the space, whatever the objectives."""
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, qmc_type=qmc_type, scramble=scramble,
                                      warn_asynchronous_seeding=False)


@SAMPLER.register("gp")
@_marks(multi_objective=True)
def gp(space: Mapping[str, Any], *, seed: int | None = None, n_startup_trials: int = 10,
       deterministic_objective: bool = False) -> Any:
    """Gaussian-process Bayesian optimization (log expected improvement; several objectives: log EHVI)."""
    import optuna

    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials,
                                     deterministic_objective=deterministic_objective)


# ------------------------------------------------------------------------------------------------- pruners


@PRUNER.register("none")
def none() -> Any:
    """No pruning: every trial trains to its last epoch."""
    import optuna

    return optuna.pruners.NopPruner()


@PRUNER.register("median")
def median(*, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1,
           n_min_trials: int = 1) -> Any:
    """Stop a trial whose objective is worse than the median of earlier trials' at the same epoch."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
                                       interval_steps=interval_steps, n_min_trials=n_min_trials)


@PRUNER.register("percentile")
def percentile(*, percentile: float = 25.0, n_startup_trials: int = 5, n_warmup_steps: int = 0,
               interval_steps: int = 1, n_min_trials: int = 1) -> Any:
    """Stop a trial outside the best ``percentile`` % of earlier trials at the same epoch.

    Optuna takes no default percentile; 25 (keep the best quarter) is its documentation's example."""
    import optuna

    return optuna.pruners.PercentilePruner(percentile, n_startup_trials=n_startup_trials,
                                           n_warmup_steps=n_warmup_steps, interval_steps=interval_steps,
                                           n_min_trials=n_min_trials)


@PRUNER.register("hyperband")
def hyperband(*, min_resource: int = 1, max_resource: int | Literal["auto"] = "auto", reduction_factor: int = 3,
              bootstrap_count: int = 0) -> Any:
    """Hyperband (Li et al. 2018): successive halving over several brackets; epochs are the resource."""
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_resource,
                                          reduction_factor=reduction_factor, bootstrap_count=bootstrap_count)


@PRUNER.register("successive_halving")
def successive_halving(*, min_resource: int | Literal["auto"] = "auto", reduction_factor: int = 4,
                       min_early_stopping_rate: int = 0, bootstrap_count: int = 0) -> Any:
    """Asynchronous successive halving (Li et al. 2020): keep the best 1/reduction_factor at each rung."""
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=reduction_factor,
                                                  min_early_stopping_rate=min_early_stopping_rate,
                                                  bootstrap_count=bootstrap_count)


@PRUNER.register("threshold")
def threshold(*, lower: float | None = None, upper: float | None = None, n_warmup_steps: int = 0,
              interval_steps: int = 1) -> Any:
    """Stop a trial whose objective leaves [lower, upper] (a diverged loss, an accuracy at chance)."""
    import optuna

    return optuna.pruners.ThresholdPruner(lower=lower, upper=upper, n_warmup_steps=n_warmup_steps,
                                          interval_steps=interval_steps)


# ------------------------------------------------------------------------------------------------- names


def resolve(registry: Registry, node: Any, key: str) -> tuple[str, dict[str, Any]]:
    """(name, checked options) of ``hydra.sweeper.<key>`` (``sampler`` or ``pruner``): ``name`` or
    hydra-optuna-sweeper's ``_target_`` (a class path of :data:`TARGETS`), then the entry's options. Raises
    SpecError naming the fix (an unknown name or option with "did you mean", a ``_target_`` we do not build, a
    module the entry needs)."""
    options = dict(spec_to_dict(node) or {})
    name = options.pop("name", None)
    target = options.pop("_target_", None)
    if target is not None:
        known = [t for t, n in TARGETS.items() if n in registry]
        if target in _REMOVED:
            raise SpecError(f"hydra.sweeper.{key}._target_: {target}: {_REMOVED[target]}.")
        if target not in known:
            raise SpecError(f"hydra.sweeper.{key}._target_: {target!r} is not a {registry.kind} se-variants builds "
                            f"(no other class is instantiated from a config). Give hydra.sweeper.{key}.name=<name> "
                            f"(se-variants list {registry.kind}), or one of: {', '.join(known)}.")
        if name is not None and name != TARGETS[target]:
            raise SpecError(f"hydra.sweeper.{key}: name {name!r} and _target_ {target} name two {registry.kind}s; "
                            f"keep one of them.")
        name = TARGETS[target]
    name = name if name is not None else (DEFAULT_SAMPLER if registry is SAMPLER else DEFAULT_PRUNER)
    try:
        entry, checked = registry.resolve({"name": name, **options})
    except SpecError as err:
        raise SpecError(f"hydra.sweeper.{key}: {err}") from None
    needs = getattr(entry.factory, "needs", None)
    if needs and importlib.util.find_spec(needs) is None:
        raise SpecError(f"hydra.sweeper.{key}.name={name} needs the {needs} package, which is not installed. "
                        f"Install it with: pip install 'se-variants[search]'.")
    seed = checked.get("seed")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise SpecError(f"hydra.sweeper.{key}.seed: {seed}; give a seed in [0, 2**32 - 1], or null for none.")
    return name, checked


def build_pruner(spec: Mapping[str, Any] | None) -> Any:
    """Optuna's pruner of a resolved spec ``{"name": ..., <options>}`` (the search's, as its jobs get it)."""
    options = dict(spec or {"name": DEFAULT_PRUNER})
    return PRUNER.build(options.pop("name"), **options)
