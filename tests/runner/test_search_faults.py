"""A search's faults cost one trial, never the search: a command killed (SIGKILL of its process group) at any point
-- inside ``ask``, after ``ask`` before the trial's job folder exists, during training, after metrics.json is
written before ``tell`` -- and run again ends with exactly ``n_trials`` trials, each told its job's validation
accuracy, the killed job resumed from its checkpoint, and the very trials one uninterrupted command proposes; a
dead worker's trial is resumed by the next run, not failed; an error in the sampler stops the workers and exits
with its reason; the exit code says whether every trial finished.

The faults come from the test module's op and sampler (``sv_test_ops``: squeeze ``fault``, sampler ``fault``),
triggered by environment variables at a counted call -- never by timing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="searches need the search extra: pip install 'se-variants[search]'")

from .conftest import in_process, ops_in_process, run_cli, start_cli, sweep_results, workers_in_group  # noqa: E402

pytestmark = pytest.mark.slow

#: a seeded search of small trials (2 epochs of 3 batches), one at a time; every trial a new configuration
SEARCH = ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2",
          "trainer.limit_test_batches=2", "checkpoint_every_s=0", "hydra/sweeper=optuna",
          "hydra.sweeper.sampler.seed=0", "imports=[sv_test_ops]", "squeeze=fault",
          "excite.reduction=int(interval(2,16))", "optim.lr=tag(log,interval(1e-3,1e-1))"]
#: training calls of the fault op in one trial's job (2 epochs × 3 batches × 3 blocks) and in one epoch
CALLS_PER_JOB, CALLS_PER_EPOCH = 18, 9


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'optuna.db'}")


def _closed(study: optuna.Study) -> set[int]:
    return {int(k.rsplit(".", 1)[1]) for k in study.user_attrs if k.startswith("se_variants.closed.")}


def _counted(folder: Path) -> list:
    study = _study(folder)
    return [t for t in sorted(study.get_trials(), key=lambda t: t.number) if t.number not in _closed(study)]


def _again(args: list[str], user_ops: Path) -> tuple[int, str, str]:
    """The command ``args`` once more, fault-free, in this process and one job after another (every launcher gives
    the same numbers): what a user's next run does, without starting a process."""
    with ops_in_process(user_ops):
        return in_process([a if not a.startswith("hydra/launcher=") else "hydra/launcher=basic" for a in args])


def _record(trial) -> dict:
    return json.loads((Path(trial.user_attrs["job_dir"]) / "metrics.json").read_text())


def test_a_search_killed_at_every_point_ends_with_exactly_n_trials(tmp_path, user_ops):
    """One seeded 6-trial search, killed (SIGKILL of its process group) four times, each time at another point,
    then run to its end: exactly 6 trials, each told its job's validation accuracy; the trial killed inside ask
    closed and replaced; the trial killed after ask run from scratch; the job killed in training resumed from its
    checkpoint; the job killed before its tell read back, not trained again; and the trials are those of one
    uninterrupted command."""
    folder = tmp_path / "s"
    args = ["train", "-m", *SEARCH, "hydra.sweeper.sampler.name=fault", "+hydra.sweeper.sampler.n_startup_trials=2",
            "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=1", "hydra/launcher=basic", f"hydra.sweep.dir={folder}"]

    def killed(env: dict[str, str]) -> None:
        proc = start_cli(args, cwd=tmp_path, env=env, pythonpath=[user_ops])
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == -signal.SIGKILL, err[-3000:]

    killed({"SV_KILL_IN_ASK": "2"})  # inside the second ask: a trial without parameters
    trials = _counted(folder)
    assert [(t.state.name, bool(t.params)) for t in trials] == [("COMPLETE", True), ("RUNNING", False)]
    in_ask = trials[1].number

    killed({"SV_KILL_AT_CHECK": "4"})  # planning a trial (its parameters drawn): the check of its model
    study = _study(folder)
    assert _closed(study) == {in_ask}
    (after_ask,) = [t for t in study.get_trials() if t.state.name == "RUNNING"]
    assert set(after_ask.params) == {"excite.reduction", "optim.lr"} and "job_dir" not in after_ask.user_attrs

    killed({"SV_KILL_AT": str(CALLS_PER_JOB + CALLS_PER_EPOCH + 3), "SV_KILL_TARGET": "group"})  # 2nd job, epoch 2
    (in_training,) = [t for t in _counted(folder) if t.state.name == "RUNNING"]
    assert _record(in_training)["status"] == "running"
    assert (Path(in_training.user_attrs["job_dir"]) / "checkpoints" / "last.ckpt").is_file()

    killed({"SV_KILL_IN_TELL": "1"})  # the resumed job finished and recorded, its trial not told
    (before_tell,) = [t for t in _counted(folder) if t.state.name == "RUNNING"]
    assert before_tell.number == in_training.number
    finished = _record(before_tell)
    assert finished["status"] == "ok"

    code, _, err = _again(args, user_ops)
    assert code == 0, err[-3000:]
    trials = _counted(folder)
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    for t in trials:
        assert t.value == _record(t)["metrics"]["val"]["acc"], t.number
    by_number = {t.number: t for t in trials}
    assert len(_record(by_number[after_ask.number])["attempts"]) == 1  # started when its trial was taken over
    resumed = _record(by_number[in_training.number])
    assert [a["outcome"] for a in resumed["attempts"]] == ["killed", "ok"] and resumed["attempts"][1]["from_epoch"] == 1
    assert resumed["finished"] == finished["finished"]  # read back after the kill before its tell, not trained again

    code, _, err = _again([*args[:-1], f"hydra.sweep.dir={tmp_path / 'one'}"], user_ops)  # one uninterrupted command
    assert code == 0, err[-3000:]
    assert [t.params for t in trials] == [t.params for t in _counted(tmp_path / "one")]
    assert [t.value for t in trials] == [t.value for t in _counted(tmp_path / "one")]


def test_a_dead_workers_trial_is_resumed_by_the_next_run(tmp_path, user_ops):
    """A worker killed in its second trial: the trial is not told failed -- the command ends with exit 1 naming it
    -- and the same command again resumes it from its checkpoint."""
    folder = tmp_path / "s"
    args = ["train", "-m", *SEARCH, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1", "hydra/launcher=workers",
            f"hydra.sweep.dir={folder}"]
    proc = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(CALLS_PER_JOB + CALLS_PER_EPOCH + 3)},
                   pythonpath=[user_ops])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "did not finish" in proc.stderr and "SIGKILL" in proc.stderr and "the next run resumes it" in proc.stderr
    states = [t.state.name for t in _counted(folder)]
    assert states == ["COMPLETE", "RUNNING"]  # never FAIL
    code, _, err = _again(args, user_ops)
    assert code == 0, err[-3000:]
    trials = _counted(folder)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    resumed = _record(trials[1])
    assert [a["outcome"] for a in resumed["attempts"]] == ["killed", "ok"] and resumed["attempts"][1]["from_epoch"] == 1
    assert trials[1].value == resumed["metrics"]["val"]["acc"]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_an_error_in_the_sampler_stops_the_workers_and_says_why(tmp_path, user_ops):
    """The sampler raises at the second ask while a worker trains the first trial: the command stops its workers
    and exits 1 with the reason (no traceback, no hang); the same command then takes the first trial over, closes
    the half-asked one and ends with every trial complete."""
    folder = tmp_path / "s"
    args = ["train", "-m", *SEARCH, "hydra.sweeper.sampler.name=fault", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.n_jobs=2", "hydra/launcher=workers", f"hydra.sweep.dir={folder}"]
    proc = start_cli(args, cwd=tmp_path, env={"SV_RAISE_IN_ASK": "2"}, pythonpath=[user_ops])
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err[-3000:]
    assert "the search stopped: RuntimeError: injected sampler failure" in err and "Traceback" not in err
    assert not workers_in_group(proc.pid), "a worker outlived the search command"
    code, _, err = _again(args, user_ops)
    assert code == 0, err[-3000:]
    study = _study(folder)
    assert len(_closed(study)) == 1
    trials = _counted(folder)
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    for record in sweep_results(folder).values():  # the first trial's job: stopped, then resumed
        assert record["status"] == "ok" and record["attempts"][-1]["outcome"] == "ok"


def test_the_exit_code_says_whether_every_trial_finished(tmp_path, user_ops):
    """A trial whose job fails is told failed and the search exits 1 naming it (a refused combination is not a
    failure: exit 0, tests/runner/test_search.py); SIGTERM stops the search with 130, and the same command resumes
    the interrupted trial."""
    with ops_in_process(user_ops, {"SV_FAIL_SEED": "0"}):
        code, _, err = in_process(["train", "-m", *SEARCH, "hydra.sweeper.n_trials=1", "hydra/launcher=basic",
                                   f"hydra.sweep.dir={tmp_path / 'f'}"])
    assert code == 1 and "RuntimeError: injected failure" in err, err[-3000:]
    assert [t.state.name for t in _counted(tmp_path / "f")] == ["FAIL"]

    args = ["train", "-m", *SEARCH, "hydra.sweeper.n_trials=1", "hydra/launcher=basic",
            f"hydra.sweep.dir={tmp_path / 't'}"]
    stopped = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(CALLS_PER_EPOCH + 3), "SV_KILL_SIGNAL": "TERM"},
                      pythonpath=[user_ops])
    assert stopped.returncode == 130 and "Interrupted." in stopped.stderr, stopped.stderr[-3000:]
    assert [t.state.name for t in _counted(tmp_path / "t")] == ["RUNNING"]
    code, _, err = _again(args, user_ops)
    assert code == 0, err[-3000:]
    (trial,) = _counted(tmp_path / "t")
    assert trial.state.name == "COMPLETE"
    assert [a["outcome"] for a in _record(trial)["attempts"]] == ["interrupted", "ok"]
