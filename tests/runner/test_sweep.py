"""A sweep through the CLI: a 2×2 grid with 2 seeds. The report's rows and numbers agree with the jobs'
metrics.json; failing jobs leave the report and the other results; re-running the sweep runs only what is
missing or failed, and then nothing. A failed job is never counted as ok: a job folder holding another config's
result (an edited experiment) fails at once, naming the key that changed; an error outside the job runner is
reported with its real reason. Sweep and job folders are named after the command's overrides."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

from .conftest import Done, brief, briefs, error_message, in_process, ops_in_process, sweep_results, tail

pytestmark = pytest.mark.slow

GRID = ["squeeze=avg,fault", "excite=fc,conv1d", "seed=0,1", "trainer=smoke", "imports=[sv_test_ops]"]
#: a tiny one-epoch experiment for in-process sweeps
MINE = """# @package _global_
trainer:
  max_epochs: {epochs}
  limit_train_batches: 2
  limit_val_batches: 1
  limit_test_batches: 1
"""


def _report_rows(sweep: Path) -> list[dict]:
    with open(sweep / "report.csv") as f:
        return list(csv.DictReader(f))


def _failed_jobs(err: str) -> list[str]:
    """The failed jobs a sweep lists on stderr (``N job(s) failed or did not finish:`` then one indented line each)."""
    _, _, listed = err.partition("failed or did not finish:\n")
    return [line.strip() for line in listed.splitlines() if line.startswith("  ")]


@pytest.fixture(scope="module")
def sweep_runs(tmp_path_factory, user_ops):
    """The same sweep three times: with an injected failure (the fault jobs of seed 1), without it, once more."""
    cwd = tmp_path_factory.mktemp("sweep")
    sweep = cwd / "grid"
    args = ["train", "-m", *GRID, "hydra/launcher=basic", f"hydra.sweep.dir={sweep}"]  # (launchers: test_launchers)
    runs = []
    for env in ({"SV_FAIL_SEED": "1"}, {}, {}):
        before = {k: v["finished"] for k, v in sweep_results(sweep).items()} if sweep.exists() else {}
        with ops_in_process(user_ops, env):  # (in this process: the sweep's logic, not process signals)
            proc = Done(*in_process(args))
        runs.append({"proc": proc, "before": before, "after": sweep_results(sweep), "rows": _report_rows(sweep),
                     "md": (sweep / "report.md").read_text()})
    return sweep, runs


def test_failed_jobs_leave_the_report_and_the_other_results(sweep_runs):
    sweep, runs = sweep_runs
    first = runs[0]
    assert first["proc"].returncode == 1, tail(first["proc"].stderr, 2000)
    results = first["after"]
    assert len(results) == 8, briefs(results)
    failed = {k: r for k, r in results.items() if r["status"] == "failed"}
    assert set(failed) == {k for k, r in results.items() if r["squeeze"] == "fault" and r["seed"] == 1}, \
        briefs(results)
    assert all("injected failure" in error_message(r) for r in failed.values()), briefs(failed)
    assert (sweep / "report.png").is_file() and (sweep / "jobs.csv").is_file()
    assert "## Failed or unfinished jobs" in first["md"] and "injected failure" in first["md"], first["md"]
    out, err = first["proc"].stdout, first["proc"].stderr
    assert "6 of 8 jobs ok" in out and out.count("[FAIL]") == 2 and out.count("[ok]") == 6, out
    listed = _failed_jobs(err)
    assert len(listed) == 2 and all("squeeze=fault" in line and "seed=1" in line and "RuntimeError: injected failure"
                                    in line for line in listed), tail(err)
    assert "2 job(s) failed" in err and "Traceback" not in err, tail(err)


def test_report_rows_match_the_jobs(sweep_runs):
    _, runs = sweep_runs
    results, rows = runs[0]["after"], runs[0]["rows"]
    assert len(rows) == 4, rows  # 2 squeeze × 2 excite; seeds aggregated
    for row in rows:
        jobs = [r for r in results.values() if r["variant_hash"] == row["variant_hash"]]
        ok = [r["metrics"]["test"]["acc"] for r in jobs if r["status"] == "ok"]
        assert len(jobs) == 2 and int(row["n"]) == len(ok) and int(row["failed"]) == 2 - len(ok), (row, briefs(jobs))
        assert {row["squeeze"], row["excite"]} == {jobs[0]["squeeze"], jobs[0]["excite"]}
        assert row["variant"] == f"squeeze={jobs[0]['squeeze']} excite={jobs[0]['excite']}"
        assert float(row["mean"]) == pytest.approx(statistics.fmean(ok) * 100, abs=1e-7)
        if len(ok) == 2:
            assert float(row["std"]) == pytest.approx(statistics.stdev(ok) * 100, abs=1e-7)
        else:
            assert row["std"] == ""
        assert int(row["params"]) == jobs[0]["params"] and int(row["flops"]) == jobs[0]["flops"]
        assert row["delta_pp"] == ""  # no block=none in this sweep


def test_rerun_runs_only_missing_or_failed_then_nothing(sweep_runs):
    _, runs = sweep_runs
    second, third = runs[1], runs[2]
    assert second["proc"].returncode == 0, tail(second["proc"].stderr, 2000)
    assert all(r["status"] == "ok" for r in second["after"].values()), briefs(second["after"])
    rerun = {k for k in second["after"] if second["after"][k]["finished"] != second["before"].get(k)}
    assert rerun == {k for k, r in runs[0]["after"].items() if r["status"] == "failed"}, briefs(second["after"])
    out = second["proc"].stdout
    assert "6 done before (skipped); 2 to run" in out and "[skip]" not in out, out  # skipped jobs: one header line
    assert "[7/8] [ok]" in out and "[8/8] [ok]" in out and "8 of 8 jobs ok" in out, out
    for name in rerun:  # retried in place: the failed attempt, then the one that finished
        record = second["after"][name]
        assert [a["outcome"] for a in record["attempts"]] == ["failed", "ok"], brief(record)
    out = third["proc"].stdout
    assert third["proc"].returncode == 0 and "8 done before (skipped); 0 to run" in out and "8 of 8 jobs ok" in out, \
        (out, tail(third["proc"].stderr))
    assert {k: r["finished"] for k, r in third["after"].items()} == third["before"], briefs(third["after"])
    assert [r["n"] for r in third["rows"]] == ["2"] * 4, third["rows"]


# ------------------------------------------------------------------------------- a failed job is never counted ok


def test_an_edited_experiment_fails_its_finished_jobs_and_keeps_them(tmp_path, monkeypatch, sv):
    """The same command after an edit of the experiment file it names: each job folder holds the finished result
    of the old config, so each job fails at once as JobConflict, naming the key that changed; nothing is
    counted as ok, nothing is overwritten, exit 1."""
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "cfg" / "experiment" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text(MINE.format(epochs=1))
    argv = ["train", "-m", "--config-dir", "cfg", "experiment=mine", "seed=0,1", "hydra/launcher=basic"]
    code, out, err = sv(*argv)
    assert code == 0 and "2 of 2 jobs ok" in out, (out, tail(err, 2000))
    records = {p: p.read_bytes() for p in tmp_path.glob("multirun/*/*/metrics.json")}
    assert len(records) == 2, sorted(records)

    mine.write_text(MINE.format(epochs=2))
    code, out, err = sv(*argv)
    assert code == 1, (out, tail(err, 2000))
    assert "2 of 2 jobs ok" not in out and "0 of 2 jobs ok" in out and "0 to run" in out, out
    assert out.count("[FAIL]") == 2 and out.count("JobConflict") == 2, out
    listed = _failed_jobs(err)
    assert len(listed) == 2, tail(err)
    for line in listed:
        assert "JobConflict" in line and "trainer.max_epochs: 1 → 2" in line and "it is kept" in line, line
    assert {p: p.read_bytes() for p in tmp_path.glob("multirun/*/*/metrics.json")} == records  # untouched
    assert not list(tmp_path.glob("multirun/*/*/claim.json"))


def test_values_that_would_share_a_folder_name_get_two_folders(tmp_path, monkeypatch, sv):
    """``a/b`` and ``a_b`` make the same characters in a folder name: the names differ (a hash of the overrides),
    both jobs train, each in its own folder."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", "+tag=a/b,a_b", "trainer=smoke", "hydra/launcher=basic",
                        f"hydra.sweep.dir={tmp_path / 's'}")
    assert code == 0 and "2 of 2 jobs ok" in out, (out, tail(err, 2000))
    results = sweep_results(tmp_path / "s")
    assert len(results) == 2 and sorted(r["config"]["tag"] for r in results.values()) == ["a/b", "a_b"], \
        briefs(results)
    assert all(r["status"] == "ok" for r in results.values()), briefs(results)


def test_an_error_outside_the_job_runner_is_reported_with_its_reason(tmp_path, monkeypatch, sv):
    """A job folder whose claim.json is a folder cannot be claimed: that job fails (in its worker) with the reason
    naming the file, the other job finishes, exit 1."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    argv = ["-m", "seed=0,1", "trainer=smoke", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={tmp_path / 's'}"]
    blocked = make_plan(parse_args(argv)).jobs[1].folder
    (blocked / "claim.json").mkdir(parents=True)
    code, out, err = sv("train", *argv)
    assert code == 1, (out, tail(err, 2000))
    assert "1 of 2 jobs ok" in out and "(workers)" in out, out
    listed = _failed_jobs(err)
    assert len(listed) == 1, tail(err)
    (line,) = listed
    assert line.startswith("seed=1 trainer=smoke:") and "ClaimError" in line, line
    assert f"{blocked / 'claim.json'} is a folder" in line and "no result" not in line, line
    assert (blocked / "claim.json").is_dir() and not (blocked / "metrics.json").exists()
    results = sweep_results(tmp_path / "s")
    ok = results.get(make_plan(parse_args(argv)).jobs[0].folder.name)
    assert ok is not None and ok["status"] == "ok", briefs(results)


# ------------------------------------------------------------------------------- names and plans (no training)


def test_sweep_folder_is_named_without_run_knobs_or_launcher(tmp_path, monkeypatch):
    """Re-running a sweep with rerun=true, resume=false or another launcher goes on in the same folder."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    plain = make_plan(parse_args(["-m", "squeeze=avg,max", "trainer.max_epochs=1"])).out_dir
    assert plain == Path("multirun/squeeze-avg+max_trainer.max_epochs-1")
    for extra in (["rerun=true"], ["resume=false", "hydra/launcher=basic"], ["trainer.enable_progress_bar=false"],
                  ["checkpoint_every_s=0", "hydra.launcher.n_jobs=1"]):
        assert make_plan(parse_args(["-m", *extra, "squeeze=avg,max", "trainer.max_epochs=1"])).out_dir == plain


def test_job_folders_do_not_depend_on_the_launcher(tmp_path, monkeypatch):
    """A sweep re-run with another launcher finds its jobs in their folders (a killed job resumes from its
    checkpoint there), as Hydra named them: launcher choices are not task overrides, nor part of a job's label."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    argv = ["-m", "squeeze=avg,max", "trainer.max_epochs=1"]
    plain = [job.folder for job in make_plan(parse_args(argv)).jobs]
    for launcher in ("basic", "workers", "processes"):
        plan = make_plan(parse_args([*argv, f"hydra/launcher={launcher}"]))
        assert [job.folder for job in plan.jobs] == plain, launcher
        assert all("hydra" not in job.label for job in plan.jobs), launcher


def test_sweep_declared_in_an_experiment_expands_before_running(tmp_path, monkeypatch):
    """hydra.sweeper.params in experiment YAML: the plan holds every job the sweep will run."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    plan = make_plan(parse_args(["-m", "experiment=placement_digits"]))
    assert plan.out_dir == Path("multirun/experiment-placement_digits") and len(plan.jobs) == 12
    assert len({job.folder for job in plan.jobs}) == 12
    placements = sorted({job.config["model"]["placement"] for job in plan.jobs})
    assert placements == ["identity", "post", "pre", "standard"]
    assert {job.config["seed"] for job in plan.jobs} == {0, 1, 2}
    assert all(job.config["excite"]["reduction"] == 4 for job in plan.jobs)


def test_seeds_of_a_variant_are_composed_once_and_equal_hydras_composition(tmp_path):
    """The planner composes one job per seed group and derives the others by setting seed: the configs equal
    Hydra's own composition of every job, including values that interpolate ${seed}."""
    from omegaconf import OmegaConf

    from se_variants.runner.configs import Composer, compose_many
    from se_variants.runner.plan import _configs, expand

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "seeded.yaml").write_text(
        "# @package _global_\ndata:\n  split_seed: ${seed}\n")
    jobs = expand(["squeeze=avg,max", "seed=3,0,7", "experiment=seeded"])
    jobs += expand(["experiment=seeded"], {}, ["excite=fc", "excite=conv1d"], [3, 0, 7])
    jobs += [["squeeze=avg", "experiment=seeded"]]  # no seed override, in the group of seeded jobs
    assert len(jobs) == 13
    with Composer([str(tmp_path)]) as composer:
        derived = _configs(composer, jobs, [])
    direct = [OmegaConf.to_container(c, resolve=True) for c in compose_many(jobs, [str(tmp_path)])]
    assert derived == direct
    assert [c["data"]["split_seed"] for c in derived[:3]] == [c["seed"] for c in derived[:3]] != [0, 0, 0]
