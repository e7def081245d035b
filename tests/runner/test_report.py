"""The report's arithmetic on hand-made results: mean ± sample std over seeds, Δ to the baseline of the same
context, failed and unfinished jobs listed; results are written atomically; job identity ignores run knobs."""

from __future__ import annotations

import json
import statistics

import pytest

from se_variants.runner.identity import config_hashes, job_name
from se_variants.runner.report import format_table, summarize, write_report
from se_variants.runner.results import write_json


def _record(variant, context, block, seed, acc, status="ok", started="2024-01-01T00:00:00"):
    return {"status": status, "variant_hash": variant, "context_hash": context, "block": block,
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
