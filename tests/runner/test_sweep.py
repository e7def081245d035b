"""A Hydra multirun through the CLI: a 2×2 grid with 2 seeds. The report's rows and numbers agree with the jobs'
metrics.json; failing jobs leave the report and the other results; re-running the sweep runs only what is
missing or failed, and then nothing."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from .conftest import run_cli

GRID = ["squeeze=avg,flaky", "excite=fc,conv1d", "seed=0,1", "trainer=smoke", "imports=[sv_test_ops]"]


def _results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


def _report_rows(sweep: Path) -> list[dict]:
    with open(sweep / "report.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep_runs(tmp_path_factory, user_ops):
    """The same sweep three times: with the injected failure, without it, and once more."""
    cwd = tmp_path_factory.mktemp("sweep")
    sweep = cwd / "grid"
    args = ["train", "-m", *GRID, "hydra/launcher=basic", f"hydra.sweep.dir={sweep}"]  # (launchers: test_launchers)
    runs = []
    for env in ({"SV_FLAKY": "1"}, {"SV_FLAKY": "0"}, {"SV_FLAKY": "0"}):
        before = {k: v["finished"] for k, v in _results(sweep).items()} if sweep.exists() else {}
        proc = run_cli(args, cwd=cwd, env=env, pythonpath=[user_ops])
        runs.append({"proc": proc, "before": before, "after": _results(sweep), "rows": _report_rows(sweep),
                     "md": (sweep / "report.md").read_text()})
    return sweep, runs


def test_failed_jobs_leave_the_report_and_the_other_results(sweep_runs):
    sweep, runs = sweep_runs
    first = runs[0]
    assert first["proc"].returncode == 1, first["proc"].stderr[-2000:]
    results = first["after"]
    assert len(results) == 8
    failed = {k: r for k, r in results.items() if r["status"] == "failed"}
    assert set(failed) == {k for k, r in results.items() if r["squeeze"] == "flaky" and r["seed"] == 1}
    assert all("injected failure" in r["error"]["message"] for r in failed.values())
    assert (sweep / "report.png").is_file() and (sweep / "jobs.csv").is_file()
    assert "## Failed or unfinished jobs" in first["md"] and "injected failure" in first["md"]
    assert "2 job(s) failed" in first["proc"].stderr


def test_report_rows_match_the_jobs(sweep_runs):
    sweep, runs = sweep_runs
    results, rows = runs[0]["after"], runs[0]["rows"]
    assert len(rows) == 4  # 2 squeeze × 2 excite; seeds aggregated
    for row in rows:
        jobs = [r for r in results.values() if r["variant_hash"] == row["variant_hash"]]
        ok = [r["metrics"]["test"]["acc"] for r in jobs if r["status"] == "ok"]
        assert len(jobs) == 2 and int(row["n"]) == len(ok) and int(row["failed"]) == 2 - len(ok)
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
    sweep, runs = sweep_runs
    second, third = runs[1], runs[2]
    assert second["proc"].returncode == 0, second["proc"].stderr[-2000:]
    assert all(r["status"] == "ok" for r in second["after"].values())
    rerun = {k for k in second["after"] if second["after"][k]["finished"] != second["before"][k]}
    assert rerun == {k for k, r in runs[0]["after"].items() if r["status"] == "failed"}
    assert second["proc"].stdout.count("[skip]") == 6
    assert third["proc"].returncode == 0 and third["proc"].stdout.count("[skip]") == 8
    assert {k: r["finished"] for k, r in third["after"].items()} == third["before"]
    assert [r["n"] for r in third["rows"]] == ["2"] * 4


def test_sweep_folder_is_named_without_run_knobs_or_launcher(tmp_path, monkeypatch):
    """Re-running a sweep with rerun=true, resume=false or another launcher goes on in the same folder."""
    from se_variants.runner.plan import parse_args, preflight

    monkeypatch.chdir(tmp_path)
    plain = preflight(parse_args(["-m", "squeeze=avg,max", "trainer.max_epochs=1"])).out_dir
    assert plain == Path("multirun/squeeze-avg+max_trainer.max_epochs-1")
    for extra in (["rerun=true"], ["resume=false", "hydra/launcher=basic"], ["trainer.enable_progress_bar=false"]):
        assert preflight(parse_args(["-m", *extra, "squeeze=avg,max", "trainer.max_epochs=1"])).out_dir == plain


def test_sweep_declared_in_an_experiment_expands_before_running(tmp_path, monkeypatch):
    """hydra.sweeper.params in experiment YAML: the preflight sees the same jobs Hydra will run."""
    from se_variants.runner.plan import parse_args, preflight

    monkeypatch.chdir(tmp_path)
    plan = preflight(parse_args(["-m", "experiment=placement_digits"]))
    assert plan.out_dir == Path("multirun/experiment-placement_digits") and len(plan.jobs) == 8
    placements = sorted({cfg["model"]["placement"] for _, cfg in plan.jobs})
    assert placements == ["identity", "post", "pre", "standard"]
    assert {cfg["seed"] for _, cfg in plan.jobs} == {0, 1}
    assert all(cfg["excite"]["reduction"] == 4 for _, cfg in plan.jobs)


def test_seeds_of_a_variant_are_composed_once_and_equal_hydras_composition(tmp_path):
    """The planner composes one job per seed group and derives the others by setting seed: the configs equal
    Hydra's own composition of every job, including values that interpolate ${seed}."""
    from omegaconf import OmegaConf

    from se_variants.runner.hydra_app import compose_many
    from se_variants.runner.plan import Args, _compose_jobs, expand

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "seeded.yaml").write_text(
        "# @package _global_\ndata:\n  split_seed: ${seed}\n")
    args = Args(overrides=[], config_dirs=[str(tmp_path)])
    jobs = expand(["squeeze=avg,max", "seed=3,0,7", "experiment=seeded"])
    jobs += expand(["experiment=seeded"], {}, ["excite=fc", "excite=conv1d"], [3, 0, 7])
    jobs += [["squeeze=avg", "experiment=seeded"]]  # no seed override, in the group of seeded jobs
    assert len(jobs) == 13
    derived = [OmegaConf.to_container(c, resolve=True) for c in _compose_jobs(args, jobs, [])]
    direct = [OmegaConf.to_container(c, resolve=True) for c in compose_many(jobs, [str(tmp_path)])]
    assert derived == direct
    assert [c["data"]["split_seed"] for c in derived[:3]] == [c["seed"] for c in derived[:3]] != [0, 0, 0]
