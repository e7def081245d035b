"""Optuna searches (hydra/sweeper=optuna): the space in Hydra's sweep syntax, every trial a normal job, the study
in a SQLite file of the sweep folder: a seeded search gives the same trials twice; killed mid-way and run again it
ends with exactly n_trials finished trials, the killed one resumed from its checkpoint; two commands share one
study; a refused combination is a failed trial with the reason; the objective is a validation metric, never a
test one; --confirm trains the best configuration with fresh seeds next to the baseline."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="searches need the search extra: pip install 'se-variants[search]'")

from .conftest import brief, first_line, run_cli, run_here, start_cli, tail  # noqa: E402

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


@pytest.mark.parametrize("argv,expected", [
    (["-m", "hydra/sweeper=optuna"], "nothing to search"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "hydra.sweeper.metric=test/acc"],
     "never optimizes the test split"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "hydra.sweeper.sampler.name=tpee"], "Did you mean 'tpe'"),
    (["-m", "hydra/sweeper=optuna", "optim.lr=interval(0.01,0.1)", "hydra.sweeper.sampler.name=grid"],
     "the grid sampler needs listed values"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,maxx)"], "Did you mean 'max'"),
    (["-m", "hydra/sweeper=optuna", "excite.reductio=int(interval(2,8))"], "Did you mean 'reduction'"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "hydra.sweeper.n_trials=0"], "n_trials"),
])
def test_a_bad_search_is_refused_before_any_trial(argv, expected, sv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = sv("train", *argv)
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


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
def test_a_killed_search_resumes_to_exactly_n_trials(tmp_path, user_ops):
    """The command dies (SIGKILL) inside its third trial (18 training calls a trial: 2 epochs × 3 batches × 3
    blocks; call 48 is in its second epoch); run again, it resumes that trial from its checkpoint and
    ends with exactly 5 finished trials, none run twice."""
    args = ["train", "-m", *TINY, "imports=[sv_test_ops]", "squeeze=fault", "excite.reduction=int(interval(2,16))",
            "hydra.sweeper.n_trials=5", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}"]
    killed = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(2 * 18 + 12)}, pythonpath=[user_ops])
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, tail(killed.stderr))
    states = [state for _, state, _, _ in _trials(tmp_path / "s")]
    assert states.count("COMPLETE") == 2 and states.count("RUNNING") == 1, states
    again = run_here(args, user_ops)  # (in this process: nothing kills it)
    assert again.returncode == 0, tail(again.stderr)
    trials = _trials(tmp_path / "s")
    assert [state for _, state, _, _ in trials] == ["COMPLETE"] * 5, trials
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/metrics.json")]
    resumed = [r for r in records if len(r["attempts"]) > 1]
    assert len(resumed) == 1 and [a["outcome"] for a in resumed[0]["attempts"]] == ["killed", "ok"], \
        [brief(r) for r in records]
    assert all(len(r["attempts"]) <= 2 for r in records), [brief(r) for r in records]


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


@pytest.mark.slow
def test_a_refused_combination_is_a_failed_trial_and_confirm_tests_the_best(sv, tmp_path, monkeypatch):
    """gate=softmax needs the branches of a fusion block: its trials fail with the reason, the search goes on;
    --confirm 3 trains the best configuration and the baseline with 3 fresh seeds and reports the comparison."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", *TINY, "gate=choice(sigmoid,softmax)", "hydra.sweeper.sampler.name=grid",
                        "hydra.sweeper.n_trials=2", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}",
                        "--confirm", "3")
    assert code == 0, tail(err)
    trials = {t[2]["gate"]: t for t in _trials(tmp_path / "s")}
    assert sorted(trials) == ["sigmoid", "softmax"], trials
    assert trials["softmax"][1] == "FAIL" and trials["sigmoid"][1] == "COMPLETE", trials
    assert "fusion" in (tmp_path / "s" / "search.md").read_text()
    confirm = tmp_path / "s" / "confirm"
    records = [json.loads(p.read_text()) for p in confirm.glob("*/metrics.json")]
    assert sorted((r["block"], r["seed"]) for r in records) == sorted(
        [("parts", s) for s in (1, 2, 3)] + [("none", s) for s in (1, 2, 3)]), [brief(r) for r in records]
    assert all(r["status"] == "ok" for r in records), [brief(r) for r in records]
    assert "p (Welch)" in out and (confirm / "report.md").is_file(), out


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
    assert pruned["status"] == "pruned" and pruned["error"] is None, brief(pruned)
    assert "pruner stopped this trial after epoch 1" in pruned["attempts"][-1]["notes"][-1], brief(pruned)


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
