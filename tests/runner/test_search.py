"""Optuna searches (hydra/sweeper=optuna): the space in Hydra's sweep syntax, every trial a normal job, the study
in a SQLite file of the sweep folder. A bad search is refused before anything runs, in the dry run too; a seeded
search gives the same trials twice; two commands share one study without replaying a draw; a refused combination
is a failed trial with the reason; the pruner stops a poor trial, shown as pruned; two objectives give a Pareto
front; --confirm trains the chosen configuration with fresh seeds next to the baseline, or says a baseline is
confirmed against nothing. Faults: test_search_faults.py; the parts without training: test_search_parts.py."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="searches need the search extra: pip install 'se-variants[search]'")

from .conftest import brief, first_line, run_here, start_cli, tail  # noqa: E402

#: a small, quick search: 2 epochs of 3 batches, one thread, one trial at a time in this process
TINY = ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2", "checkpoint_every_s=0", "hydra/sweeper=optuna",
        "hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_jobs=1"]
#: TINY in one epoch: for the tests of a search's bookkeeping (which trials, how many, where), not of its epochs
ONE_EPOCH = ["trainer.max_epochs=1" if o.startswith("trainer.max_epochs=") else o for o in TINY]
SPACE = ["squeeze=choice(avg,max,dct)", "excite.reduction=int(interval(2,16))", "optim.lr=tag(log,interval(1e-3,1e-1))"]


def _trials(folder: Path) -> list[tuple]:
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'optuna.db'}")
    return [(t.number, t.state.name, t.params, t.value) for t in study.get_trials()]


#: command lines a search refuses, and what the refusal says (the hostile pass of issue 18 among them)
REFUSED = [
    (["squeeze=choice(avg,max)", "hydra.sweeper.metric=test/acc"], "never optimizes the test split"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.sampler.name=tpee"], "Did you mean 'tpe'"),
    (["optim.lr=interval(0.01,0.1)", "hydra.sweeper.sampler.name=grid"], "the grid sampler needs listed values"),
    (["squeeze=choice(avg,maxx)"], "Did you mean 'max'"),
    (["excite.reductio=int(interval(2,8))"], "Did you mean 'reduction'"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.n_trials=0"], "n_trials"),
    (["squeeze=choice(avg,max)", "+hydra.sweeper.sampler.n_startup_trialz=2"], "Did you mean 'n_startup_trials'"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_warmup_stepz=1"],
     "Did you mean 'n_warmup_steps'"),
    (["squeeze=choice(avg,max)", "+hydra.sweeper.sampler._target_=os.system"], "no other class is instantiated"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.sampler.seed=abc"], "expected int | None, got 'abc'"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.sampler.seed=-1"], "give a seed in [0, 2**32 - 1]"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.storage=sqlite:///no/such/folder/s.db"], "does not exist"),
    (["optim.lr=interval(0.1,0.001)"], "the low end 0.1 is above the high end 0.001"),
    (["optim.lr=tag(log,interval(0,0.1))"], "a log interval must start above 0"),
    (["seed=range(0,0)"], "no value to search"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.direction=[maximize,minimize]", "hydra.sweeper.metric=[val/acc,params]",
      "hydra.sweeper.sampler.name=cmaes"], "optimizes one objective, and this search has 2"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.direction=[maximize,minimize]", "hydra.sweeper.metric=[val/acc,params]",
      "hydra.sweeper.pruner.name=median"], "Optuna prunes single-objective searches only"),
    (["squeeze=choice(avg,max)", "hydra.sweeper.metric=[val/acc,params]"], "give one direction per metric"),
    (["squeeze=choice(avg,max)", "+hydra.sweeper.max_failure_rate=0.1"], "not supported"),
    (["squeeze=choice(avg,max)", "report.alpha=2"], "alpha must be a number in (0, 1)"),
]


@pytest.mark.parametrize("argv,expected", [([], "nothing to search"), *REFUSED])
def test_a_bad_search_is_refused_before_any_trial(argv, expected, sv, tmp_path, monkeypatch):
    """Exit 2 with the reason (never Optuna's traceback), in the dry run as in the run, and nothing created."""
    monkeypatch.chdir(tmp_path)
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", *argv, "--dry-run")
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv,expected", [REFUSED[6], REFUSED[10], REFUSED[11], REFUSED[12]])
@pytest.mark.slow
def test_the_run_refuses_what_the_dry_run_refuses(argv, expected, sv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", *argv, "hydra/launcher=basic")
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_confirm_trial_needs_confirm(sv):
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "--confirm-trial", "2")
    assert code == 2 and "add --confirm K" in err
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "--confirm", "3",
                      "--confirm-trial", "x")
    assert code == 2 and "--confirm-trial takes the number" in err


@pytest.mark.slow
def test_a_dry_run_makes_no_study_and_a_broken_study_is_an_error(sv, tmp_path, monkeypatch):
    """--dry-run reads the study if there is one and writes nothing; a study file that is not a database stops
    the dry run and the search with exit 2 naming the file, and is left as it was."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, *SPACE, "hydra.sweep.dir=s", "--dry-run")
    assert code == 0 and "(0 finished before)" in out and "Nothing was trained." in out, err
    assert not list(tmp_path.iterdir())
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "optuna.db").write_text("not a database")
    for extra in (["--dry-run"], ["hydra/launcher=basic"]):
        code, out, err = sv("train", "-m", *TINY, *SPACE, "hydra.sweep.dir=s", *extra)
        assert code == 2 and "cannot open the study's storage" in err and "optuna.db" in err, (extra, err)
        assert "Traceback" not in err
    assert (tmp_path / "s" / "optuna.db").read_text() == "not a database"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["optuna.db"]


@pytest.mark.slow
def test_a_seeded_search_gives_the_same_trials_twice(sv, tmp_path, monkeypatch):
    """Two searches with one sampler seed: the same 5 trials (parameters, states, values); the report files; the
    objective is the best trial's validation accuracy; a third run of a complete study trains nothing."""
    monkeypatch.chdir(tmp_path)
    runs = []
    for name in ("a", "b"):
        code, out, err = sv("train", "-m", *ONE_EPOCH, *SPACE, "hydra.sweeper.n_trials=5", "hydra/launcher=basic",
                            f"hydra.sweep.dir={tmp_path / name}")
        assert code == 0, tail(err)
        runs.append(_trials(tmp_path / name))
    assert runs[0] == runs[1], runs
    assert len(runs[0]) == 5 and all(state == "COMPLETE" for _, state, _, _ in runs[0]), runs[0]
    folder = tmp_path / "a"
    for name in ("search.md", "search.csv", "search_history.png", "search_importances.png", "report.md"):
        assert (folder / name).is_file(), name
    best = optuna.load_study(study_name="a", storage=f"sqlite:///{folder / 'optuna.db'}").best_trial
    record = json.loads((Path(best.user_attrs["job_dir"]) / "metrics.json").read_text())
    assert best.value == (record.get("metrics") or {}).get("val", {}).get("acc"), (best.value, brief(record))
    assert f"Best trial {best.number}" in (folder / "search.md").read_text()
    code, out, err = sv("train", "-m", *ONE_EPOCH, *SPACE, "hydra.sweeper.n_trials=5", "hydra/launcher=basic",
                        f"hydra.sweep.dir={folder}")  # the study is complete: nothing more to run
    assert code == 0 and "(5 finished before)" in out and _trials(folder) == runs[0], (out, tail(err))


@pytest.mark.slow
def test_two_commands_share_one_study(tmp_path):
    """Two commands at once on one study -- one started as a process of its own, the other run here as soon as the
    first has opened the study (its header printed): 6 trials in all, every one complete; a job that two trials
    share is trained once."""
    args = ["train", "-m", *ONE_EPOCH, *SPACE, "hydra.sweeper.n_trials=6", "hydra.sweeper.sampler.name=random",
            "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path)
    header = first_line(proc)
    here = run_here(args, cwd=tmp_path) if header else None
    out, err = proc.communicate(timeout=600)  # (a guard against a hang only)
    assert header.startswith("Search") and proc.returncode == 0, (header, proc.returncode, tail(err, 2000))
    assert here.returncode == 0, tail(here.stderr, 2000)
    trials = _trials(tmp_path / "s")
    assert len(trials) == 6 and all(state == "COMPLETE" for _, state, _, _ in trials), trials
    pids = set()
    for path in (tmp_path / "s").glob("*/metrics.json"):  # a job shared by two trials is trained once
        record = json.loads(path.read_text())
        assert len(record["attempts"]) == 1, brief(record)
        pids.add(record["attempts"][0]["pid"])
    assert pids <= {proc.pid, os.getpid()}, pids
    # the seeded sampler continues across the two commands: no draw replayed (each restarting it would repeat one)
    assert len({json.dumps(params, sort_keys=True) for _, _, params, _ in trials}) == 6, trials


@pytest.mark.slow
def test_a_refused_combination_is_a_failed_trial_and_confirm_tests_the_best(sv, tmp_path, monkeypatch):
    """gate=softmax needs the branches of a fusion block: its trials are refused with the reason, the search goes
    on and exits 0 (a refused combination is not a failure); --confirm 3 trains the best configuration and the
    baseline with 3 seeds no trial used -- the searched seeds 0 and 1 excluded -- and reports the comparison with
    the command's report.alpha, apart from the search's own report."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, "gate=choice(sigmoid,softmax)", "seed=choice(0,1)", "report.alpha=0.2",
                        "hydra.sweeper.sampler.name=grid", "hydra.sweeper.n_trials=4", "hydra/launcher=basic",
                        f"hydra.sweep.dir={tmp_path / 's'}", "--confirm", "3")
    assert code == 0, err[-3000:]
    trials = _trials(tmp_path / "s")
    assert sorted((t[2]["gate"], t[1]) for t in trials) == [("sigmoid", "COMPLETE")] * 2 + [("softmax", "FAIL")] * 2
    assert "refused" in (tmp_path / "s" / "search.md").read_text()
    assert "fusion" in (tmp_path / "s" / "search.md").read_text()
    confirm = tmp_path / "s" / "confirm"
    records = [json.loads(p.read_text()) for p in confirm.glob("*/metrics.json")]
    assert sorted((r["block"], r["seed"]) for r in records) == sorted(
        [("parts", s) for s in (2, 3, 4)] + [("none", s) for s in (2, 3, 4)])
    assert "p (Welch)" in out and "α = 0.2" in (confirm / "report.md").read_text()
    assert "α = 0.2" in (tmp_path / "s" / "report.md").read_text()
    search_jobs = json.loads((tmp_path / "s" / "sweep.json").read_text())  # the search is a sweep of its own,
    assert search_jobs["search"]["n_trials"] == 4  # and its report counts its trials only, not the confirmation
    assert "2 jobs in" in (tmp_path / "s" / "report.md").read_text()


@pytest.mark.slow
def test_a_two_objective_search_reports_its_pareto_front_and_confirms_the_chosen_trial(sv, tmp_path, monkeypatch):
    """Validation accuracy against parameter count: a study with two directions, the Pareto front in search.md,
    search.csv and search_pareto.png, and --confirm-trial naming the trial --confirm trains again."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, "squeeze=choice(avg,max)", "excite.reduction=choice(2,16)",
                        "hydra.sweeper.direction=[maximize,minimize]", "hydra.sweeper.metric=[val/acc,params]",
                        "hydra.sweeper.sampler.name=grid", "hydra.sweeper.n_trials=4", "hydra/launcher=basic",
                        f"hydra.sweep.dir={tmp_path / 's'}", "--confirm", "3", "--confirm-trial", "2")
    assert code == 0, err[-3000:]
    folder = tmp_path / "s"
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for t in study.trials:
        record = json.loads((Path(t.user_attrs["job_dir"]) / "metrics.json").read_text())
        assert t.values == [record["metrics"]["val"]["acc"], record["params"]]
    front = {t.number for t in study.best_trials}
    assert "**Pareto front**" in (folder / "search.md").read_text()
    with open(folder / "search.csv") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["trial"]) for r in rows if r["pareto"] == "True"} == front
    assert (folder / "search_pareto.png").is_file()
    chosen = study.trials[2].params
    confirm = [json.loads(p.read_text()) for p in (folder / "confirm").glob("*/metrics.json")]
    variant = [r for r in confirm if r["block"] != "none"]
    assert len(variant) == 3 and all(f"excite.reduction={chosen['excite.reduction']}" in r["overrides"]
                                     and f"squeeze={chosen['squeeze']}" in r["overrides"] for r in variant)
    assert "trial 2" in out


@pytest.mark.slow
def test_a_baseline_best_trial_is_confirmed_against_nothing(sv, tmp_path, monkeypatch):
    """When the best trial is block=none, --confirm trains its fresh seeds once, says it is confirmed against
    nothing, and compares the baseline with no copy of itself."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, "block=choice(none)", "hydra.sweeper.n_trials=1", "hydra/launcher=basic",
                        f"hydra.sweep.dir={tmp_path / 's'}", "--confirm", "3")
    assert code == 0, err[-3000:]
    assert "is the baseline itself (block=none), so it is confirmed against nothing" in out
    records = [json.loads(p.read_text()) for p in (tmp_path / "s" / "confirm").glob("*/metrics.json")]
    assert sorted((r["block"], r["seed"], len(r["attempts"])) for r in records) == [("none", s, 1) for s in (1, 2, 3)]
    with open(tmp_path / "s" / "confirm" / "report.csv") as f:
        (row,) = list(csv.DictReader(f))  # the baseline alone: nothing compared with itself
    assert row["baseline"] == "True" and row["n"] == "3" and row["p_value"] == ""


@pytest.mark.slow
def test_the_pruner_stops_a_poor_trial_from_inside_its_job(sv, tmp_path, monkeypatch):
    """A median pruner after one startup trial: the grid's second trial (seed 1 orders it lr = 0.1, then 1e-6)
    learns nothing, falls below the first trial's validation accuracy after its first epoch and is stopped
    there: the trial is pruned, its job records status pruned after 1 of 2 epochs."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, "optim.lr=choice(0.1,0.000001)", "hydra.sweeper.sampler.name=grid",
                        "hydra.sweeper.sampler.seed=1", "hydra.sweeper.pruner.name=median",
                        "+hydra.sweeper.pruner.n_startup_trials=1", "+hydra.sweeper.pruner.n_warmup_steps=0",
                        "hydra.sweeper.n_trials=5", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}")
    assert code == 0, tail(err)
    trials = _trials(tmp_path / "s")  # (n_trials is capped at the grid's 2 points)
    assert [(t[1], t[2].get("optim.lr")) for t in trials] == [("COMPLETE", 0.1), ("PRUNED", 1e-6)], trials
    pruned = json.loads(next((tmp_path / "s").glob("optim.lr=1e-06*/metrics.json")).read_text())
    assert pruned["status"] == "pruned" and pruned["error"] is None
    assert "pruner stopped this trial after epoch 1" in pruned["attempts"][-1]["notes"][-1]
    assert "trial 1 pruned" in out and "FAIL" not in out  # pruned, in the progress lines and the report
    assert "1 ok, 1 pruned, 0 failed or unfinished" in (tmp_path / "s" / "report.md").read_text()


@pytest.mark.slow
def test_trials_run_n_jobs_at_a_time_on_worker_processes(tmp_path):
    """hydra.sweeper.n_jobs=2 on the workers launcher: two trials at a time, each in a worker process, all on one
    SQLite study (the command in this process)."""
    args = ["train", "-m", *[a for a in ONE_EPOCH if not a.startswith("hydra.sweeper.n_jobs")], *SPACE,
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "hydra/launcher=workers",
            f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = run_here(args)
    assert proc.returncode == 0, tail(proc.stderr)
    assert "2 at a time (workers)" in proc.stdout, proc.stdout
    trials = _trials(tmp_path / "s")
    assert len(trials) == 4 and all(state == "COMPLETE" for _, state, _, _ in trials), trials
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/metrics.json")]
    pids = {r["attempts"][0]["pid"] for r in records}
    assert len(pids) == 2 and os.getpid() not in pids, [brief(r) for r in records]  # two workers shared them
