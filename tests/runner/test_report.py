"""The report's arithmetic on hand-made results: mean ± sample std over seeds, Δ to the baseline of the same
context, failed and unfinished jobs listed; results are written atomically; job identity ignores run knobs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from se_variants.runner.identity import config_hashes, job_name
from se_variants.runner.report import format_table, summarize, write_report
from se_variants.runner.results import write_json


def _record(variant, context, block, seed, acc, status="ok", started="2024-01-01T00:00:00"):
    return {"schema": 2, "config_hash": f"{variant}-{seed}", "config": {}, "job": f"{variant}-{seed}",
            "finished": None if status == "running" else started, "epochs": 1,
            "status": status, "variant_hash": variant, "context_hash": context, "block": block,
            "squeeze": "max" if block == "parts" else None, "excite": "fc" if block == "parts" else None,
            "gate": "sigmoid" if block == "parts" else None, "seed": seed,
            "overrides": [f"block={block}", f"seed={seed}", "model=resnet20" if context == "c20" else "model=small"],
            "metrics": {"test": {"acc": acc}} if acc is not None else {}, "params": 10, "flops": 20,
            "latency_ms": 1.0, "wall_time_s": 2.0, "started": started,
            "error": None if status == "ok" else {"type": "RuntimeError", "message": "boom"}}


def test_summarize_groups_seeds_and_matches_baselines_by_context():
    records = [
        _record("base_s", "cs", "none", 0, 0.90), _record("base_s", "cs", "none", 1, 0.92),
        _record("se_s", "cs", "parts", 0, 0.93), _record("se_s", "cs", "parts", 1, 0.95),
        _record("se_s", "cs", "parts", 2, None, status="failed"),
        _record("base_20", "c20", "none", 0, 0.80), _record("se_20", "c20", "parts", 0, 0.85),
    ]
    for i, r in enumerate(records):
        r["job_dir"] = f"/sweep/job{i}"
    rows, common = summarize(records)
    assert common == []
    by = {r["variant_hash"]: r for r in rows}
    assert [r["baseline"] for r in rows[:2]] == [True, True]  # baselines first
    assert by["se_s"]["n"] == 2 and by["se_s"]["failed"] == 1
    assert by["se_s"]["test_acc_mean"] == pytest.approx(0.94)
    assert by["se_s"]["test_acc_std"] == pytest.approx(statistics.stdev([0.93, 0.95]))
    assert by["se_s"]["delta_vs_baseline"] == pytest.approx(0.94 - 0.91)
    assert by["se_20"]["delta_vs_baseline"] == pytest.approx(0.05)  # against the resnet20 baseline, not small
    assert by["se_20"]["test_acc_std"] is None  # one seed: no std
    assert "94.00 ± 1.41" in format_table(rows) and "+3.00" in format_table(rows)


def test_write_report_lists_failed_and_unfinished_jobs(tmp_path):
    write_json(tmp_path / "a" / "metrics.json", _record("v", "c", "none", 0, 0.5))
    write_json(tmp_path / "b" / "metrics.json", _record("w", "c", "parts", 0, None, status="failed"))
    write_json(tmp_path / "c" / "metrics.json", _record("w", "c", "parts", 1, None, status="running"))
    result = write_report(tmp_path, plot=False)
    md = (tmp_path / "report.md").read_text()
    assert "3 jobs" in md and "RuntimeError: boom" in md and "| running |" in md
    assert len(result["rows"]) == 2 and not list(tmp_path.glob(".*.tmp"))
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["status"] == "ok"


BROKEN = {
    "empty": ("", "empty file"),
    "truncated": ('{"schema": 2, "status": "ok", "metr', "not valid JSON"),
    "not_json": ("acc: 0.9\n", "not valid JSON"),
    "a_list": ("[1, 2]", "not a job record"),
    "nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "wrong_started": (None, "field 'started'"),
    "acc_text": (None, "metrics"),
    "acc_out_of_range": (None, "metrics.test.acc"),
}


def test_broken_records_are_listed_never_dropped_or_fatal(tmp_path):
    """Empty, truncated, non-JSON, deeply nested and wrongly typed metrics.json files are listed as broken, with
    their path and the reason, and do not stop the report (nor count in it)."""
    write_json(tmp_path / "good" / "metrics.json", _record("v", "c", "none", 0, 0.5))
    for name, (text, _) in BROKEN.items():
        path = tmp_path / name / "metrics.json"
        path.parent.mkdir()
        if text is None:
            record = _record("w", "c", "parts", 0, 0.7)
            if name == "wrong_started":
                record["started"] = 5
            elif name == "acc_text":
                record["metrics"]["test"]["acc"] = "abc"
            else:
                record["metrics"]["test"]["acc"] = 7.5
            text = json.dumps(record)
        path.write_text(text)
    result = write_report(tmp_path, plot=False)
    assert [r["job_dir"] for r in result["records"]] == [str(tmp_path / "good")]
    problems = {Path(b["path"]).parent.name: b["problem"] for b in result["broken"]}
    assert set(problems) == set(BROKEN)
    for name, (_, reason) in BROKEN.items():
        assert reason in problems[name], (name, problems[name])
    md = (tmp_path / "report.md").read_text()
    assert "8 broken record(s)" in md and "## Broken records" in md
    assert all(str(tmp_path / name / "metrics.json") in md for name in BROKEN)
    jobs = (tmp_path / "jobs.csv").read_text()
    assert jobs.count(",broken,") == len(BROKEN)


def test_report_command_shows_broken_records_and_fails(tmp_path, capsys):
    from se_variants.runner.commands import report_main

    write_json(tmp_path / "good" / "metrics.json", _record("v", "c", "none", 0, 0.5))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("")
    assert report_main([str(tmp_path), "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "broken record" in err and str(tmp_path / "bad" / "metrics.json") in err and "empty file" in err


def test_one_record_per_config_the_newest(tmp_path):
    """The same config run twice (a re-run into another folder) counts once: the newest record."""
    old = _record("v", "c", "parts", 0, 0.5, started="2024-01-01T00:00:00")
    new = _record("v", "c", "parts", 0, 0.7, started="2024-02-01T00:00:00")
    write_json(tmp_path / "old" / "metrics.json", old)
    write_json(tmp_path / "new" / "metrics.json", new)
    result = write_report(tmp_path, plot=False)
    assert len(result["records"]) == 1 and result["records"][0]["job_dir"] == str(tmp_path / "new")
    assert result["rows"][0]["n"] == 1 and result["rows"][0]["test_acc_mean"] == pytest.approx(0.7)
    assert result["superseded"] == [{"path": str(tmp_path / "old" / "metrics.json"), "kept": str(tmp_path / "new")}]
    assert "1 older record(s)" in (tmp_path / "report.md").read_text()


def test_identity_ignores_run_knobs_but_not_results():
    cfg = {"seed": 0, "block": {"name": "parts"}, "squeeze": {"name": "avg"}, "excite": {"name": "fc"},
           "gate": {"name": "sigmoid"}, "trainer": {"max_epochs": 5, "enable_progress_bar": True}, "rerun": False}
    h = config_hashes(cfg)
    knobs = {**cfg, "rerun": True, "trainer": {"max_epochs": 5, "enable_progress_bar": False}}
    assert config_hashes(knobs) == h
    assert config_hashes({**cfg, "seed": 1})["variant_hash"] == h["variant_hash"]
    assert config_hashes({**cfg, "seed": 1})["config_hash"] != h["config_hash"]
    other = {**cfg, "trainer": {"max_epochs": 6, "enable_progress_bar": True}}
    assert config_hashes(other)["variant_hash"] != h["variant_hash"]
    preset = {**cfg, "block": {"name": "cbam", "preset": "cbam"}}
    assert config_hashes(preset) == config_hashes({**preset, "squeeze": {"name": "max"}})  # parts unused
    none = {**cfg, "block": {"name": "none"}, "model": {"name": "cifar_resnet", "placement": "standard"}}
    moved = {**none, "model": {"name": "cifar_resnet", "placement": "post"}}
    assert config_hashes(none) == config_hashes(moved)  # no blocks: where they would go does not matter
    se = {**cfg, "model": {"name": "cifar_resnet", "placement": "post"}}
    assert config_hashes(se)["context_hash"] == config_hashes(none)["context_hash"]  # the baseline of any placement
    assert job_name(["squeeze=max", "excite=fc", "seed=0"]) == "excite=fc,seed=0,squeeze=max"  # Hydra's order
    assert len(job_name([f"model.stages=[{','.join(['1'] * 80)}]"])) <= 96
