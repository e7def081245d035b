"""The space of a search, in Hydra's sweep syntax, as Optuna distributions.

On the command line or in ``hydra.sweeper.params`` (the command line wins for a key in both):

* ``'squeeze=choice(avg,max,dct)'`` or ``squeeze=avg,max,dct``: one of the values;
  ``'excite=choice(all)'``: every option of a config group (the registry's ops: squeeze, excite, gate, block);
* ``seed=range(0,4)``: the integers 0..3 (a float or descending range: its values);
* ``'excite.reduction=int(interval(2,32))'``: an integer in [2, 32]; ``'optim.lr=interval(0.01,0.1)'``: a float;
  ``'optim.lr=tag(log,interval(1e-4,1e-1))'``: log-uniform.

A space Optuna would refuse (an interval whose low end is above its high end, a log interval from 0, a range with
no value) is refused here with the key and the fix, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution,
                                  distribution_to_json)

from .configs import override_parser
from .validate import ConfigError

__all__ = ["parse_space", "with_all_options", "override_value", "first_point", "space_fingerprint", "point", "describe"]

_SYNTAX = ("write choice(a,b), a,b, range(0,4), interval(0.1,1.0), int(interval(2,32)) or "
           "tag(log,interval(1e-4,1e-1))")


def override_value(value: Any) -> str:
    """A sampled value as a Hydra override value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)


def _distribution(key: str, text: str, sweep: Any) -> BaseDistribution:
    if isinstance(sweep, ChoiceSweep):
        values = list(sweep.list)
    elif isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        if values and all(isinstance(v, int) for v in values) and int(sweep.step) > 0:
            return IntDistribution(values[0], values[-1], step=int(sweep.step))
    elif isinstance(sweep, IntervalSweep):
        low, high, log = sweep.start, sweep.end, "log" in sweep.tags
        if low > high:
            raise ConfigError(f"{text}: the low end {low} is above the high end {high}; write the interval low to "
                              f"high: interval({high},{low}).")
        if log and low <= 0:
            raise ConfigError(f"{text}: a log interval must start above 0 (log of {low} is not a number); give a "
                              f"positive low end, e.g. tag(log,interval(1e-4,{high})).")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    else:
        raise ConfigError(f"{text}: {sweep!r} is not a search space; {_SYNTAX}.")
    if not values:
        raise ConfigError(f"{text}: no value to search; give at least one, e.g. {key}=range(0,3).")
    try:
        return CategoricalDistribution(values)
    except ValueError as err:  # values Optuna cannot store (lists, mappings)
        raise ConfigError(f"{text}: {err}; choices are numbers, strings, booleans or null.") from None


def parse_space(parsed: Sequence[Any], params: dict[str, Any]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(key → distribution, the command line's task overrides that are not searched) from the command line's
    parsed overrides and ``hydra.sweeper.params`` (key → sweep string)."""
    parser = override_parser()
    space: dict[str, BaseDistribution] = {}
    for key, value in params.items():
        text = f"{key}={value}"
        o = parser.parse_override(text)
        space[o.get_key_element()] = _distribution(o.get_key_element(), f"hydra.sweeper.params.{text}", o.value())
    task = []
    for o in parsed:
        key = o.get_key_element()
        if key.lstrip("+~").startswith("hydra"):
            continue
        if o.is_sweep_override():
            space[key] = _distribution(key, o.input_line, o.value())
        else:
            task.append(o.input_line)
    if not space:
        raise ConfigError("hydra/sweeper=optuna: nothing to search; give a space, e.g. 'squeeze=choice(avg,max,dct)' "
                          "'optim.lr=tag(log,interval(1e-4,1e-1))' (or hydra.sweeper.params).")
    return space, task


def with_all_options(space: dict[str, BaseDistribution],
                     options_of: Callable[[str], list[str] | None]) -> dict[str, BaseDistribution]:
    """``space`` with every ``choice(all)`` replaced by all options of that config group (``options_of(group)``:
    its options, None for a key that is not a group)."""
    out = dict(space)
    for key, dist in space.items():
        if tuple(getattr(dist, "choices", ())) == ("all",):
            options = options_of(key)
            if options is None:
                raise ConfigError(f"{key}=choice(all): 'all' lists the options of a config group (squeeze, excite, "
                                  f"gate, block, ...), and {key} is not one; list the values: choice(a,b).")
            out[key] = CategoricalDistribution(options)
    return out


def first_point(space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """A point of the space (each key's first choice or low end): the sample the planner checks a search with."""
    return {key: dist.choices[0] if hasattr(dist, "choices") else dist.low for key, dist in space.items()}


def point(task: Sequence[str], params: dict[str, Any]) -> list[str]:
    """A trial's job overrides: the command line's task overrides, then the sampled ``params``."""
    return [*task, *(f"{key}={override_value(value)}" for key, value in params.items())]


def space_fingerprint(space: dict[str, BaseDistribution]) -> dict[str, str]:
    """The space as JSON strings (key → Optuna's JSON of its distribution): what a study remembers of it."""
    return {key: distribution_to_json(dist) for key, dist in sorted(space.items())}


def describe(dist: BaseDistribution) -> str:
    """A distribution in the space's own syntax: ``choice(avg,max)``, ``int(interval(2,32))``, ..."""
    if isinstance(dist, CategoricalDistribution):
        return f"choice({','.join(override_value(c) for c in dist.choices)})"
    log = "log" if getattr(dist, "log", False) else ""
    if isinstance(dist, IntDistribution):
        if dist.step != 1:
            return f"range({dist.low},{dist.high + 1},{dist.step})"
        inner = f"int(interval({dist.low},{dist.high}))"
    else:
        inner = f"interval({dist.low!r},{dist.high!r})"
    return f"tag(log,{inner})" if log else inner

