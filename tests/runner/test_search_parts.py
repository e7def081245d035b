"""The parts of a search, without training: samplers and pruners as registry entries whose options reach Optuna,
the sampler that continues across commands instead of replaying its draws, a study that refuses a command which
optimizes something else, several objectives and their Pareto front, repeated configurations counted once,
fresh seeds for a confirmation. (A search folder's report: tests/runner/test_report.py.)"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="searches need the search extra: pip install 'se-variants[search]'")

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402

from se_variants.runner.args import parse_args  # noqa: E402
from se_variants.runner.confirm import confirm_seeds  # noqa: E402
from se_variants.runner.plan import open_planner  # noqa: E402
from se_variants.runner.plans import SearchPlan, SearchSettings  # noqa: E402
from se_variants.runner.samplers import PRUNER, SAMPLER, build_pruner, can  # noqa: E402
from se_variants.runner.search import objective_values, plan_search  # noqa: E402
from se_variants.runner.search_report import search_markdown, trial_rows  # noqa: E402
from se_variants.runner.search_settings import check_objectives_data, settings_of  # noqa: E402
from se_variants.runner.study import ContinuedSampler, close, open_study  # noqa: E402
from se_variants.runner.validate import ConfigError  # noqa: E402

#: the library's own entries (tests register others)
OWN_SAMPLERS = ("tpe", "random", "cmaes", "grid", "nsgaii", "qmc", "gp")
OWN_PRUNERS = ("none", "median", "percentile", "hyperband", "successive_halving", "threshold")


@contextlib.contextmanager
def planned(folder: Path, *overrides: str):
    """The SearchPlan of ``se-variants train -m hydra/sweeper=optuna <overrides>`` into ``folder`` (its planner
    closed afterwards)."""
    planner = open_planner(parse_args(["-m", "hydra/sweeper=optuna", *overrides, f"hydra.sweep.dir={folder}"]))
    try:
        plan = plan_search(planner)
        plan.out_dir.mkdir(parents=True, exist_ok=True)  # (the command makes it before it opens the study)
        yield plan
    finally:
        planner.close()


def _settings(**kw) -> SearchSettings:
    base = {"metrics": ["val/acc"], "directions": ["maximize"], "study_name": "s", "storage": "sqlite:///x.db",
            "n_trials": 4, "n_jobs": 1, "sampler": {"name": "tpe", "seed": 0}, "pruner": {"name": "none"}}
    return SearchSettings(**{**base, **kw})


# ------------------------------------------------------------------------------------------------- registries


@pytest.mark.slow
def test_a_sampler_option_on_the_command_line_reaches_optuna(tmp_path):
    """+hydra.sweeper.sampler.n_startup_trials=2 is the option of the TPE sampler the study samples with (chosen
    by hydra-optuna-sweeper's group, hydra/sweeper/sampler=tpe), and the pruner's likewise."""
    with planned(tmp_path / "s", "squeeze=choice(avg,max)", "hydra/sweeper/sampler=tpe",
                 "+hydra.sweeper.sampler.n_startup_trials=2", "hydra/sweeper/pruner=median",
                 "+hydra.sweeper.pruner.n_warmup_steps=3") as plan:
        study = open_study(plan)
    assert isinstance(study.sampler.current, optuna.samplers.TPESampler)
    assert study.sampler.current._n_startup_trials == 2
    assert isinstance(study.pruner, optuna.pruners.MedianPruner) and study.pruner._n_warmup_steps == 3


def _sweeper(*dotlist: str):
    """configs/hydra/sweeper/optuna.yaml with ``key=value`` changes, as Hydra merges them."""
    from omegaconf import OmegaConf

    from se_variants.runner.configs import CONFIG_DIR

    node = OmegaConf.load(CONFIG_DIR / "hydra" / "sweeper" / "optuna.yaml")
    del node["defaults"]  # (Hydra's composition takes it out)
    return OmegaConf.merge(node, OmegaConf.from_dotlist(list(dotlist)))


@pytest.mark.parametrize("dotlist,check", [
    (["sampler._target_=optuna.samplers.TPESampler", "sampler.n_ei_candidates=7", "sampler.seed=3"],
     lambda sampler, pruner: isinstance(sampler, optuna.samplers.TPESampler) and sampler._n_ei_candidates == 7),
    (["sampler._target_=optuna.samplers.RandomSampler"],
     lambda sampler, pruner: type(sampler) is optuna.samplers.RandomSampler),
    (["sampler.name=nsgaii", "sampler.population_size=4", "sampler.crossover=sbx"],
     lambda sampler, pruner: sampler._population_size == 4
     and type(sampler._child_generation_strategy._crossover).__name__ == "SBXCrossover"),
    (["pruner.name=median", "pruner.n_warmup_steps=4"],
     lambda sampler, pruner: isinstance(pruner, optuna.pruners.MedianPruner) and pruner._n_warmup_steps == 4),
    (["pruner._target_=optuna.pruners.HyperbandPruner", "pruner.reduction_factor=2"],
     lambda sampler, pruner: isinstance(pruner, optuna.pruners.HyperbandPruner) and pruner._reduction_factor == 2),
])
def test_sampler_and_pruner_options_reach_optuna(dotlist, check, tmp_path):
    """Each option of hydra.sweeper.sampler / pruner -- named by our name or by hydra-optuna-sweeper's _target_ --
    is the option of the Optuna object built from it, read back from that object."""
    space = {"squeeze": CategoricalDistribution(["avg", "max"])}
    settings = settings_of(_sweeper(*dotlist), tmp_path, space)
    assert check(ContinuedSampler(settings.sampler, space).current, build_pruner(settings.pruner))


def test_hydra_optuna_sweepers_groups_name_every_sampler_and_pruner():
    """hydra/sweeper/sampler=<name> and hydra/sweeper/pruner=<name> (hydra-optuna-sweeper's groups): one file per
    registry entry, choosing it by name."""
    from omegaconf import OmegaConf

    from se_variants.runner.configs import CONFIG_DIR

    for kind, names in (("sampler", OWN_SAMPLERS), ("pruner", OWN_PRUNERS)):
        files = sorted((CONFIG_DIR / "hydra" / "sweeper" / kind).glob("*.yaml"))
        assert [f.stem for f in files] == sorted(names) == sorted(n for n in (SAMPLER if kind == "sampler" else
                                                                              PRUNER).names() if n != "fault")
        assert all(OmegaConf.load(f) == {"name": f.stem} for f in files)


def test_list_shows_the_samplers_and_pruners(sv):
    code, out, _ = sv("list", "sampler", "pruner")
    assert code == 0
    for name in (*OWN_SAMPLERS, *OWN_PRUNERS):
        assert f" {name} " in out, name
    assert "n_startup_trials=10 (int)" in out and "squeeze" not in out


def _objective(params: dict) -> float:
    return (params.get("x", 0.5) - 0.3) ** 2 + (0.1 if params.get("k") == "b" else 0.0) + 0.01 * params["n"]


def _in(value, dist) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    return dist.low <= value <= dist.high


SPACE = {"x": FloatDistribution(0.0, 1.0), "n": IntDistribution(1, 8), "k": CategoricalDistribution(["a", "b"]),
         "lr": FloatDistribution(1e-4, 1e-1, log=True)}
GRID = {"n": IntDistribution(1, 3), "k": CategoricalDistribution(["a", "b"])}


@pytest.mark.parametrize("objectives", [1, 2])
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] * (n == "gp"))  # (gp: a second or more)
                                  for n in OWN_SAMPLERS])
def test_every_sampler_proposes_points_of_the_space(name, objectives):
    """Each registered sampler, as a search builds it (seeded, rebuilt per trial), proposes points of the space
    through Optuna's ask and tell -- with one objective, and with two where it says it can (the others are refused
    at planning); CMA-ES runs from the search extra."""
    if objectives == 2 and not can(SAMPLER.get(name), "multi_objective"):
        pytest.skip(f"{name} optimizes one objective (refused at planning)")
    space = GRID if name == "grid" else SPACE
    options = {"n_startup_trials": 2} if "n_startup_trials" in SAMPLER.entry(name).options else {}
    sampler = ContinuedSampler({"name": name, "seed": 1, **options}, space)
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * objectives)
    for _ in range(4):
        trial = study.ask(space)
        for key, dist in space.items():
            assert _in(trial.params[key], dist), (key, trial.params[key])
        value = _objective(trial.params)
        study.tell(trial, value if objectives == 1 else [value, trial.params["n"]])
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4
    if name == "grid":  # each point once (its order is drawn once from the seed, not per trial)
        assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == 4


@pytest.mark.parametrize("name", OWN_PRUNERS)
def test_every_pruner_builds(name):
    """Each registered pruner builds with its defaults (the threshold pruner needs a bound: Optuna's own rule)."""
    options = {"lower": 0.1} if name == "threshold" else {}
    assert isinstance(build_pruner({"name": name, **options}), optuna.pruners.BasePruner)


# ------------------------------------------------------------------------------------------------- continuation


def _run(study: optuna.Study, n: int) -> None:
    for _ in range(n):
        trial = study.ask(SPACE)
        study.tell(trial, _objective(trial.params))


def _params(study: optuna.Study) -> list[dict]:
    return [t.params for t in sorted(study.get_trials(), key=lambda t: t.number)]


def test_a_seeded_search_continues_its_draws_across_commands():
    """A seeded TPE search (3 random start-up trials, then the model) of 8 trials, run as one command, as 3 + 5
    trials by two commands one after the other (extended, or resumed), and by two commands that take turns on
    one study: the same 8 proposals every time. A sampler rebuilt per command with the search's seed (what the
    search did before) replays its first draws instead."""
    spec = {"name": "tpe", "seed": 0, "n_startup_trials": 3}
    one = optuna.create_study(sampler=ContinuedSampler(spec, SPACE))
    _run(one, 8)
    reference = _params(one)
    assert len({json.dumps(p, sort_keys=True) for p in reference}) == 8

    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(study_name="s", storage=storage, sampler=ContinuedSampler(spec, SPACE))
    _run(first, 3)
    later = optuna.load_study(study_name="s", storage=storage, sampler=ContinuedSampler(spec, SPACE))
    _run(later, 5)
    assert _params(later) == reference

    storage = optuna.storages.InMemoryStorage()
    a = optuna.create_study(study_name="s", storage=storage, sampler=ContinuedSampler(spec, SPACE))
    b = optuna.load_study(study_name="s", storage=storage, sampler=ContinuedSampler(spec, SPACE))
    for i in range(8):
        _run(a if i % 2 else b, 1)
    assert _params(a) == reference

    storage = optuna.storages.InMemoryStorage()  # before: every command restarted the seeded sampler
    first = optuna.create_study(study_name="s", storage=storage, sampler=optuna.samplers.TPESampler(
        seed=0, n_startup_trials=3))
    _run(first, 2)
    later = optuna.load_study(study_name="s", storage=storage, sampler=optuna.samplers.TPESampler(
        seed=0, n_startup_trials=3))
    _run(later, 1)
    assert _params(later)[2] == _params(later)[0]  # the first draw again


def test_a_closed_trial_is_replaced_by_the_draw_it_would_have_had(tmp_path):
    """A trial whose command died inside ask is closed; the next trial gets the seed index the closed one had, so
    the search proposes what an uninterrupted one would."""
    spec = {"name": "tpe", "seed": 0, "n_startup_trials": 3}
    one = optuna.create_study(sampler=ContinuedSampler(spec, SPACE))
    _run(one, 5)
    study = optuna.create_study(sampler=ContinuedSampler(spec, SPACE))
    _run(study, 2)
    dead = study.ask()  # created, no parameter drawn: its command died here
    close(study, study.get_trials()[dead.number], "died inside ask")
    study.sampler.closed = {dead.number}
    _run(study, 3)
    kept = [t.params for t in study.get_trials() if t.number != dead.number]
    assert kept == _params(one)


# ------------------------------------------------------------------------------------------------- the study


#: the same command with another objective, direction, space or base config, and what the refusal says
CHANGES = [
    (["hydra.sweeper.metric=val/loss", "hydra.sweeper.direction=minimize"], "optimizes val/acc (maximize)"),
    (["hydra.sweeper.direction=minimize"], "optimizes val/acc (maximize)"),
    (["excite.reduction=int(interval(2,8))"], "searches another space (it differs in excite.reduction)"),
    (["trainer.max_epochs=3"], "trainer.max_epochs=3 differ"),
]


@pytest.mark.slow
def test_a_study_refuses_a_command_that_optimizes_something_else(sv, tmp_path, monkeypatch):
    """The same folder and study with another objective, direction, space or base config: exit 2 naming the fix
    (a new study_name or folder), in the dry run too, before anything runs; the study is unchanged and the same
    command still plans."""
    monkeypatch.chdir(tmp_path)
    space = ["squeeze=choice(avg,max)", "excite.reduction=int(interval(2,16))", "trainer.max_epochs=2"]
    with planned(tmp_path / "s", *space) as plan:
        open_study(plan)
    for (change, expected), dry in zip(CHANGES + CHANGES[:1], [True] * len(CHANGES) + [False]):
        keys = {c.split("=", 1)[0] for c in change}
        argv = [*(o for o in space if o.split("=", 1)[0] not in keys), *change]
        code, _, err = sv("train", "-m", "hydra/sweeper=optuna", *argv, f"hydra.sweep.dir={tmp_path / 's'}",
                          "hydra/launcher=basic", *(["--dry-run"] if dry else []))
        assert code == 2 and expected in err and "hydra.sweeper.study_name=" in err, (change, dry, err)
        assert "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["optuna.db", "optuna.lock"]  # nothing ran
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", *space, f"hydra.sweep.dir={tmp_path / 's'}",
                      "--dry-run")
    assert code == 0, err


@pytest.mark.slow
def test_two_objectives_make_a_two_direction_study(tmp_path):
    with planned(tmp_path / "s", "squeeze=choice(avg,max)", "hydra.sweeper.direction=[maximize,minimize]",
                 "hydra.sweeper.metric=[val/acc,params]") as plan:
        study = open_study(plan)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    summary = {"status": "ok", "metrics": {"val": {"acc": 0.9}}, "params": 75000, "flops": None}
    assert objective_values(summary, ["val/acc", "params"]) == [0.9, 75000.0]
    assert objective_values(summary, ["val/acc", "flops"]) is None  # a missing objective: the trial fails


def test_a_validation_objective_needs_a_validation_split():
    """Data without a validation split (data.val_fraction=0, as the UCR recipe has) cannot be searched on val/*
    (test_recipe.py: the UCR node itself)."""
    no_val = {"data": {"name": "digits", "val_fraction": 0}}
    with pytest.raises(ConfigError, match="has none"):
        check_objectives_data(no_val, ["val/acc"])
    check_objectives_data(no_val, ["train/loss", "params"])
    check_objectives_data({"data": {"name": "digits", "val_fraction": 0.15}}, ["val/acc"])


# ------------------------------------------------------------------------------------------------- the report


def _add(study: optuna.Study, number_params: dict, values, job: str, **attrs) -> None:
    dist = {"squeeze": CategoricalDistribution(["avg", "max", "dct"])}
    study.add_trial(optuna.trial.create_trial(params=number_params, distributions=dist, values=values,
                                              user_attrs={"job_dir": f"/s/{job}", **attrs}))


def test_repeated_configurations_are_marked_and_counted_once():
    """A trial that repeats an earlier configuration reuses its job and is marked as a repeat; the best is the best
    of the distinct configurations, and the summary counts them."""
    study = optuna.create_study(direction="maximize")
    _add(study, {"squeeze": "dct"}, [0.5], "dct")
    _add(study, {"squeeze": "avg"}, [0.7], "avg")
    _add(study, {"squeeze": "dct"}, [0.5], "dct")
    _add(study, {"squeeze": "dct"}, [0.5], "dct")
    rows = trial_rows(study, ["val/acc"])
    assert [r["repeat_of"] for r in rows] == [None, None, 0, 0]
    assert "repeat of trial 0" in rows[2]["note"] and [r["pareto"] for r in rows] == [False, True, False, False]
    plan = SearchPlan(None, [], {}, _settings(), Path("/s"), {"name": "basic"}, 1)
    md = search_markdown(plan, study, rows)
    assert "4 trials (4 complete), 2 distinct configurations" in md
    assert "the best of 2 distinct configurations" in md and "best-of-6" not in md


def test_the_pareto_front_of_two_objectives_is_reported():
    study = optuna.create_study(directions=["maximize", "minimize"])
    _add(study, {"squeeze": "avg"}, [0.9, 100.0], "avg")
    _add(study, {"squeeze": "max"}, [0.8, 50.0], "max")
    _add(study, {"squeeze": "dct"}, [0.7, 120.0], "dct")  # beaten by avg on both
    rows = trial_rows(study, ["val/acc", "params"])
    assert [r["pareto"] for r in rows] == [True, True, False]
    plan = SearchPlan(None, [], {}, _settings(metrics=["val/acc", "params"], directions=["maximize", "minimize"]),
                      Path("/s"), {"name": "basic"}, 1)
    md = search_markdown(plan, study, rows)
    assert "**Pareto front**: 2 trial(s)" in md and "--confirm-trial" in md


@pytest.mark.slow
def test_confirmation_seeds_are_disjoint_from_every_searched_seed(tmp_path):
    with planned(tmp_path / "a", "squeeze=choice(avg,max)", "seed=choice(0,1,2)") as plan:
        assert confirm_seeds(plan, [], 3) == [3, 4, 5]
    with planned(tmp_path / "b", "squeeze=choice(avg,max)", "seed=range(2,6)") as plan:
        assert confirm_seeds(plan, [], 3) == [0, 1, 6]
    with planned(tmp_path / "c", "squeeze=choice(avg,max)", "seed=4") as plan:
        assert confirm_seeds(plan, [], 3) == [0, 1, 2]
