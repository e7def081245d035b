"""The report's arithmetic on hand-made results: mean ± sample std over seeds, Δ to the baseline of the same
context, the t-intervals, Welch / paired tests and Holm's adjustment against hand-computed values, the guard
rails for too few seeds, failed and unfinished jobs listed; results are written atomically; job identity
ignores run knobs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from se_variants.runner.files import write_json
from se_variants.runner.identity import config_hashes, job_name
from se_variants.runner.report import format_table, summarize, write_report


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
    assert [r["variant_hash"] for r in rows] == ["base_s", "se_s", "base_20", "se_20"]  # grouped by setting
    assert by["se_s"]["n"] == 2 and by["se_s"]["failed"] == 1
    assert by["se_s"]["mean"] == pytest.approx(94.0)  # accuracies in %
    assert by["se_s"]["std"] == pytest.approx(statistics.stdev([93.0, 95.0]))
    assert by["se_s"]["delta_pp"] == pytest.approx(94.0 - 91.0)
    assert by["se_20"]["delta_pp"] == pytest.approx(5.0)  # against the resnet20 baseline, not small
    assert by["se_20"]["std"] is None  # one seed: no std
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


def test_a_job_another_process_is_training_is_counted_as_training_not_failed(tmp_path):
    """A report written while another command trains in the folder (a live claim): "1 training", not failed."""
    from se_variants.runner.claims import acquire

    write_json(tmp_path / "a" / "metrics.json", _record("v", "c", "none", 0, 0.5))
    write_json(tmp_path / "b" / "metrics.json", _record("w", "c", "parts", 0, None, status="running"))
    write_json(tmp_path / "c" / "metrics.json", _record("w", "c", "parts", 1, None, status="running"))
    claim = acquire(tmp_path / "b")  # b is being trained (by this process); c's trainer is gone
    try:
        rows = {r["variant_hash"]: r for r in write_report(tmp_path, plot=False)["rows"]}
        assert (rows["w"]["training"], rows["w"]["failed"]) == (1, 1), rows["w"]
        assert "0 (1 failed, 1 training)" in format_table(list(rows.values()))
    finally:
        claim.release()
    rows = {r["variant_hash"]: r for r in write_report(tmp_path, plot=False)["rows"]}
    assert (rows["w"]["training"], rows["w"]["failed"]) == (0, 2), rows["w"]


def test_a_folder_without_baseline_says_the_command_that_adds_it(tmp_path):
    for seed in (0, 2):
        write_json(tmp_path / f"s{seed}" / "metrics.json", _record("v", "c", "parts", seed, 0.9))
    write_report(tmp_path, plot=False)
    md = (tmp_path / "report.md").read_text()
    assert "No `block=none` jobs here" in md
    # the shared overrides (block=parts model=small) without what would choose a block for the baseline
    assert f"`se-variants train -m block=none seed=0,2 model=small hydra.sweep.dir={tmp_path}`" in md


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
    assert result["rows"][0]["n"] == 1 and result["rows"][0]["mean"] == pytest.approx(70.0)
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
    preset = {**cfg, "block": {"name": "cbam"}}
    assert config_hashes(preset) == config_hashes({**preset, "squeeze": {"name": "max"}})  # parts unused
    none = {**cfg, "block": {"name": "none"}, "model": {"name": "cifar_resnet", "placement": "standard"}}
    moved = {**none, "model": {"name": "cifar_resnet", "placement": "post"}}
    assert config_hashes(none) == config_hashes(moved)  # no blocks: where they would go does not matter
    se = {**cfg, "model": {"name": "cifar_resnet", "placement": "post"}}
    assert config_hashes(se)["context_hash"] == config_hashes(none)["context_hash"]  # the baseline of any placement
    assert job_name(["squeeze=max", "excite=fc", "seed=0"]) == "excite=fc,seed=0,squeeze=max"  # Hydra's order
    assert len(job_name([f"model.stages=[{','.join(['1'] * 80)}]"])) <= 96


# ------------------------------------------------------------------------------------------ statistics


def _stat_records(accs: dict[str, list[float]], report: dict | None = None) -> list[dict]:
    """Records of one context: variant → test accuracies (fractions) of seeds 0, 1, ...; ``none`` is the
    baseline."""
    out = []
    for variant, values in accs.items():
        for seed, acc in enumerate(values):
            r = _record(variant, "c", "none" if variant == "none" else "parts", seed, acc,
                        started=f"2024-01-01T00:00:{len(out):02d}")
            r["overrides"] = ["block=none"] if variant == "none" else [f"squeeze={variant}"]
            r["overrides"].append(f"seed={seed}")
            r["config"] = {"report": report} if report else {}
            r["job_dir"] = f"/sweep/{variant}-{seed}"
            out.append(r)
    return out


REQUIRED_COLUMNS = ["n", "mean", "std", "ci95_low", "ci95_high", "delta_pp", "delta_ci95_low_pp",
                    "delta_ci95_high_pp", "p_value", "p_holm", "significant"]


@pytest.mark.slow
def test_intervals_welch_and_holm_against_hand_computed_values(tmp_path):
    """Baseline 90/91/92 %, variant 'up' 93/94/95 %, variant 'flat' 90/92/91.5 %, 3 seeds each."""
    from scipy import stats as st
    from statsmodels.stats.multitest import multipletests

    base, up, flat = [90.0, 91.0, 92.0], [93.0, 94.0, 95.0], [90.0, 92.0, 91.5]
    records = _stat_records({"none": [a / 100 for a in base], "up": [a / 100 for a in up],
                             "flat": [a / 100 for a in flat]})
    rows, _ = summarize(records)
    by = {r["variant_hash"]: r for r in rows}
    t2 = 4.302652729749464  # t_{0.975, 2}
    assert by["none"]["ci95_low"] == pytest.approx(91 - t2 / 3 ** 0.5)  # s = 1: 91 ± t · 1/√3
    assert by["up"]["ci95_high"] == pytest.approx(94 + t2 / 3 ** 0.5)
    # up vs none: Δ = 3, SE = √(1/3 + 1/3), t = 3.674235, ν = (2/3)² / (2 · (1/3)² / 2) = 4
    t4 = 2.7764451051977987  # t_{0.975, 4}
    se = (2 / 3) ** 0.5
    assert by["up"]["delta_pp"] == pytest.approx(3.0)
    assert (by["up"]["delta_ci95_low_pp"], by["up"]["delta_ci95_high_pp"]) == (
        pytest.approx(3 - t4 * se), pytest.approx(3 + t4 * se))
    p_up, p_flat = (st.ttest_ind(v, base, equal_var=False).pvalue for v in (up, flat))
    assert by["up"]["p_value"] == pytest.approx(p_up) and p_up == pytest.approx(2 * st.t.sf(3 / se, 4))
    assert by["flat"]["p_value"] == pytest.approx(p_flat)
    holm = multipletests([p_up, p_flat], method="holm")[1]
    assert by["up"]["p_holm"] == pytest.approx(holm[0]) and by["flat"]["p_holm"] == pytest.approx(holm[1])
    assert by["up"]["p_holm"] == pytest.approx(2 * p_up)  # the smaller p, times m = 2
    assert by["up"]["significant"] is True and by["flat"]["significant"] is False
    assert by["none"]["p_value"] is None and by["none"]["significant"] is None  # the baseline is not tested
    assert by["up"]["prob_improvement"] == 1.0 and by["up"]["alpha"] == 0.05

    for i, r in enumerate(records):
        write_json(tmp_path / f"job{i}" / "metrics.json", {k: v for k, v in r.items() if k != "job_dir"})
    result = write_report(tmp_path, plot=True)
    assert (tmp_path / "report.png").is_file() and result["files"][-1] == tmp_path / "report.png"
    with open(tmp_path / "report.csv") as f:
        import csv

        csv_rows = {r["variant"]: r for r in csv.DictReader(f)}
    assert all(c in csv_rows["squeeze=up"] for c in REQUIRED_COLUMNS)
    assert float(csv_rows["squeeze=up"]["p_holm"]) == pytest.approx(holm[0])
    assert csv_rows["squeeze=up"]["significant"] == "True" and csv_rows["block=none"]["p_value"] == ""
    md = (tmp_path / "report.md").read_text()
    first = md.split("\n\n")[1]
    assert first.startswith("Verdict (exploratory): **1 of 2 variants differ from the baseline at α = 0.05 after "
                            "Holm**")
    table = format_table(result["rows"])
    assert "Verdict (exploratory): 1 of 2 variants differ" in table and f"{by['up']['p_value']:.3f}" in table


def test_too_few_seeds_give_no_p_value_and_say_how_many(tmp_path):
    records = _stat_records({"none": [0.90, 0.91], "up": [0.93, 0.945], "one": [0.92]})
    rows, _ = summarize(records)
    by = {r["variant_hash"]: r for r in rows}
    for name in ("up", "one"):
        assert by[name]["p_value"] is None and by[name]["p_holm"] is None and by[name]["significant"] is None
        assert by[name]["note"] == "insufficient seeds (n < 3)"
    assert by["up"]["delta_ci95_low_pp"] is not None  # n = 2 on both sides: the t-interval exists (and is wide)
    half = 12.706204736174698 * statistics.stdev([93.0, 94.5]) / 2 ** 0.5  # t_{0.975, 1} · s / √2 = 9.53
    assert by["up"]["ci95_low"] == pytest.approx(93.75 - half) and by["up"]["ci95_high"] == 100.0  # cut at 100 %
    assert by["one"]["delta_ci95_low_pp"] is None
    table = format_table(rows)
    assert table.count("insufficient seeds (n < 3)") >= 2
    assert "No variant can be tested" in table and "ablation.seeds=[0,1,2]" in table
    s = statistics.stdev([90.0, 91.0])  # the baseline's seed std, pp
    assert f"Planning: For 80 % power at α = 0.05 (one comparison; Holm over m variants asks for more), a true " \
           f"difference of {s:.2f} pp (one seed std of the baseline, block=none) needs 17 seeds per arm, " \
           f"{2 * s:.2f} pp needs 6." in table
    for i, r in enumerate(records):
        write_json(tmp_path / f"job{i}" / "metrics.json", {k: v for k, v in r.items() if k != "job_dir"})
    md = (write_report(tmp_path, plot=False), (tmp_path / "report.md").read_text())[1]
    assert f"- squeeze=up: insufficient seeds (n < 3): a p-value needs >= 3 seeds of the variant and of the " \
           f"baseline; about {by['up']['seeds_needed']} per arm would give 80 % power" in md
    assert by["up"]["seeds_needed"] >= 3

    mixed = summarize(_stat_records({"none": [0.90, 0.91, 0.92], "a": [0.93, 0.94, 0.95], "b": [0.9, 0.91]}))[0]
    from se_variants.runner.report import verdict

    text = verdict(mixed, 0.05, markdown=False)
    assert text.startswith("1 of 1 variants differ") and "1 more not tested" in text
    none_differs = summarize(_stat_records({"none": [0.90, 0.91, 0.92], "a": [0.905, 0.91, 0.915]}))[0]
    assert verdict(none_differs, 0.05).startswith("**None of the 1 variants differs from the baseline")


def test_paired_test_and_alpha_from_the_config_or_the_caller(tmp_path):
    from scipy import stats as st

    from se_variants.runner.report import report_settings

    base, var = [0.900, 0.910, 0.920, 0.905], [0.905, 0.918, 0.924, 0.912]
    records = _stat_records({"none": base, "v": var}, report={"alpha": 0.01, "paired": True})
    assert report_settings(records) == (0.01, True)
    assert report_settings(records, alpha=0.2, paired=False) == (0.2, False)
    assert report_settings([]) == (0.05, False)
    with pytest.raises(ValueError, match="alpha"):
        report_settings(records, alpha=1.5)
    for i, r in enumerate(records):
        write_json(tmp_path / f"job{i}" / "metrics.json", {k: v for k, v in r.items() if k != "job_dir"})
    result = write_report(tmp_path, plot=False)
    row = next(r for r in result["rows"] if not r["baseline"])
    ref = st.ttest_rel([v * 100 for v in var], [b * 100 for b in base])
    assert row["stat_test"] == "paired" and row["p_value"] == pytest.approx(ref.pvalue)
    assert row["alpha"] == 0.01 and row["significant"] == (ref.pvalue < 0.01)
    assert "p (paired)" in format_table(result["rows"])
    welch = write_report(tmp_path, plot=False, paired=False, alpha=0.2)["rows"][1]
    assert welch["stat_test"] == "welch" and welch["alpha"] == 0.2
    assert welch["p_value"] == pytest.approx(st.ttest_ind(var, base, equal_var=False).pvalue)


def test_report_command_alpha_and_paired_options(tmp_path, capsys):
    from se_variants.runner.commands import report_main

    for i, r in enumerate(_stat_records({"none": [0.90, 0.91, 0.92], "v": [0.93, 0.94, 0.96]})):
        write_json(tmp_path / f"job{i}" / "metrics.json", {k: v for k, v in r.items() if k != "job_dir"})
    assert report_main([str(tmp_path), "--alpha", "0.001", "--paired", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "p (paired)" in out and "α = 0.001" in out
    assert report_main([str(tmp_path), "--alpha=0.1", "--no-plot"]) == 0
    assert "p (Welch)" in capsys.readouterr().out
    for bad, message in ((["--alpha", "2"], "--alpha takes a number in (0, 1)"), (["--alpha"], "--alpha takes"),
                         (["--pared"], "Did you mean '--paired'")):
        assert report_main([str(tmp_path), *bad]) == 2
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------ reasons, baselines, settings


def _rows(accs: dict[str, list[float]], **kwargs) -> dict[str, dict]:
    """summarize over :func:`_stat_records`, rows by variant."""
    return {r["variant_hash"]: r for r in summarize(_stat_records(accs), **kwargs)[0]}


def test_a_variant_without_spread_is_tested_against_a_baseline_with_spread():
    from scipy import stats as st

    from se_variants.runner.report import verdict

    base = [0.97, 0.975, 0.985]
    by = _rows({"none": base, "flat": [0.98] * 3})
    ref = st.ttest_ind_from_stats(98.0, 0.0, 3, 97.666666666666667, statistics.stdev(b * 100 for b in base), 3,
                                  equal_var=False)
    assert by["flat"]["note"] is None and by["flat"]["p_value"] == pytest.approx(ref.pvalue)
    text = verdict(list(by.values()), 0.05, markdown=False)
    assert text.startswith("None of the 1 variants differs") and "not tested" not in text


NO_VARIATION = "no seed-to-seed variation on either side: a t-test is undefined"


def test_no_spread_on_either_side_is_named_not_called_too_few_seeds():
    from se_variants.runner.report import verdict

    by = _rows({"none": [0.97] * 3, "flat": [0.98] * 3, "up": [0.98, 0.985, 0.99]})
    text = verdict(list(by.values()), 0.05, markdown=False)
    assert "fewer than" not in text and text.endswith(f"; 1 more not tested ({NO_VARIATION}).")
    assert by["flat"]["note"] == NO_VARIATION and by["flat"]["p_holm"] is None
    # 136/270 and 139/270: three equal values whose mean is rounded were "significant" (t ~ 1e14)
    rounded = _rows({"none": [136 / 270] * 3, "flat": [139 / 270] * 3})
    assert rounded["flat"]["p_value"] is None and rounded["flat"]["significant"] is None
    assert rounded["flat"]["note"] == NO_VARIATION


def test_identical_values_on_both_sides_have_no_test():
    from se_variants.runner.report import verdict

    rows = list(_rows({"none": [0.98] * 3, "same": [0.98] * 3}).values())
    same = rows[1]
    assert same["delta_pp"] == 0.0 and same["note"] == NO_VARIATION
    assert [same[k] for k in ("p_value", "p_holm", "significant", "delta_ci95_low_pp", "delta_ci95_high_pp")] == \
        [None] * 5
    assert verdict(rows, 0.05) == f"No variant can be tested ({NO_VARIATION})."
    assert "1.000" not in format_table(rows) and "[+0.00, +0.00]" not in format_table(rows)


def _reseed(records: list[dict], variant: str, seeds: list[int]) -> list[dict]:
    """Give the jobs of ``variant`` these seeds (in order)."""
    jobs = [r for r in records if r["variant_hash"] == variant]
    for r, seed in zip(jobs, seeds, strict=True):
        r["seed"] = seed
    return records


def test_paired_without_shared_seeds_is_counted_as_not_tested():
    from se_variants.runner.report import verdict

    records = _reseed(_stat_records({"none": [0.90, 0.91, 0.92], "up": [0.95, 0.96, 0.975],
                                     "apart": [0.93, 0.94, 0.95]}), "apart", [3, 4, 5])
    rows = summarize(records, paired=True)[0]
    apart = next(r for r in rows if r["variant_hash"] == "apart")
    assert apart["note"] == "no seeds shared with the baseline" and apart["pairs"] == 0
    text = verdict(rows, 0.05, paired=True, markdown=False)
    assert text.startswith("1 of 1 variants differ") and "1 more not tested (no seeds shared with the baseline)" in text


def test_two_pairs_with_equal_differences_are_too_few_pairs():
    from se_variants.runner.report import verdict

    # in %: 87.5 / 93.75 and 89.0625 / 95.3125 (exact in binary), both differences 1.5625 pp
    rows = list(_rows({"none": [0.875, 0.9375], "v": [57 / 64, 61 / 64]}, paired=True).values())
    assert rows[1]["note"] == "insufficient paired seeds (n < 3)" and rows[1]["delta_pp"] == 1.5625
    text = verdict(rows, 0.05, paired=True, markdown=False)
    assert text.startswith("No variant can be tested (fewer than 3 seeds shared with the baseline).")
    assert "variation" not in text and "insufficient paired seeds (n < 3)" in format_table(rows)


def test_a_baseline_whose_seeds_all_failed_is_named():
    records = _stat_records({"none": [None] * 3, "v": [0.93, 0.94, 0.95]})
    for r in records[:3]:
        r["status"] = "failed"
    rows = summarize(records)[0]
    note = "the baseline with the same settings, block=none, has no finished seed (3 failed or unfinished)"
    assert rows[1]["note"] == note
    table = format_table(rows)
    assert f"Verdict (exploratory): No variant can be tested ({note})." in table and "No baseline" not in table


def test_paired_rows_show_the_pairs_used():
    from se_variants.runner.report import ROW_COLUMNS

    accs = {"none": [0.90, 0.91, 0.92, 0.905], "v": [0.91, 0.93, 0.925]}
    paired = _rows(accs, paired=True)
    assert paired["v"]["pairs"] == 3 and paired["none"]["pairs"] is None and "pairs" in ROW_COLUMNS
    assert "3 (3 pairs)" in format_table(list(paired.values()))
    assert _rows(accs)["v"]["pairs"] is None and "pairs)" not in format_table(list(_rows(accs).values()))


def test_report_settings_refuse_bad_recorded_values():
    from se_variants.runner.report import report_settings

    bad_alpha = _stat_records({"none": [0.9]}, report={"alpha": 5})
    with pytest.raises(ValueError, match=r"config.report.alpha = 5 .*pass --alpha / --paired to override"):
        report_settings(bad_alpha)
    assert report_settings(bad_alpha, alpha=0.1) == (0.1, False)  # an argument overrides the record
    text_paired = _stat_records({"none": [0.9]}, report={"alpha": 0.05, "paired": "false"})
    with pytest.raises(ValueError, match=r"config.report.paired = 'false' in the record of job /sweep/none-0"):
        report_settings(text_paired)
    assert report_settings(text_paired, paired=False) == (0.05, False)
    for kwargs in ({"paired": "false"}, {"paired": 1}, {"alpha": 5}, {"alpha": True}):
        with pytest.raises(ValueError, match="paired must be true or false|alpha must be a number"):
            report_settings([], **kwargs)


def test_two_baselines_with_the_same_settings_are_noted_and_the_first_is_used(tmp_path):
    from se_variants.runner.report import _markdown, verdict

    records = _stat_records({"none": [0.90, 0.91, 0.92], "none2": [0.95, 0.96, 0.97], "up": [0.93, 0.94, 0.95]})
    for r in records:
        if r["variant_hash"] == "none2":
            r["block"] = "none"
            r["overrides"][0] = "block=none"
    rows, common = summarize(records)
    up = next(r for r in rows if r["variant_hash"] == "up")
    assert up["delta_pp"] == pytest.approx(3.0)  # against the earliest started baseline, 91 %
    note = ("another baseline with the same settings as block=none (variant_hash none), the earliest started, which "
            "the variants are compared with")
    assert next(r for r in rows if r["variant_hash"] == "none2")["note"] == note
    text = verdict(rows, 0.05)
    assert text.endswith(f"two-sided). Note: block=none (variant_hash none2) is {note}.")
    assert "within each" not in text  # one Holm family
    assert f"- block=none: {note}" in _markdown(tmp_path, records, rows, common)


def test_markdown_cells_are_one_line_and_the_baseline_command_leaves_out_run_knobs(tmp_path):
    from se_variants.runner.report import _markdown

    knobs = ["rerun=true", "resume=false", "ckpt_path=/x/last.ckpt", "trainer.enable_progress_bar=false"]
    records = _stat_records({"v": [0.9, 0.91, None]})
    for r in records:
        r["overrides"] = ["squeeze=v", f"seed={r['seed']}", "model=small", *knobs]
    failed = records[2]
    failed.update(status="failed", error={"type": "ValueError", "message": "line one\nline | two"})
    failed["overrides"] = [*failed["overrides"], "data.note=a|b\nc"]
    rows, common = summarize(records)
    md = _markdown(tmp_path, records, rows, common)
    assert f"`se-variants train -m block=none seed=0,1 model=small hydra.sweep.dir={tmp_path}`" in md
    table = md.split("## Failed or unfinished jobs")[1].strip().splitlines()[2:]
    assert len(table) == 1  # one job, one line
    assert table[0].replace("\\|", "").count("|") == 5  # 4 cells
    assert "ValueError: line one line \\| two" in table[0] and "data.note=a\\|b c" in table[0]


def test_labels_and_shared_overrides_leave_out_run_knobs():
    """A seed added later (ablation.seeds), a tracker turned on, a re-run: run knobs never name a variant, so
    the label does not say [0,1,2] while n = 4, and jobs with and without a knob are one variant."""
    records = _stat_records({"none": [0.90, 0.91, 0.92, 0.93], "max": [0.93, 0.94, 0.95, 0.96]})
    for r in records:
        if r["seed"] == 3:  # the fourth seed, added with the knobs on
            r["overrides"] += ["ablation.seeds=[0,1,2,3]", "trainer.loggers=[csv,mlflow]", "rerun=true"]
        r["overrides"].insert(0, "experiment=ablate_digits")
    records.sort(key=lambda r: -r["seed"])  # the knobbed jobs first: their overrides would label the rows
    rows, common = summarize(records)
    assert [(r["variant"], r["n"]) for r in rows] == [("block=none", 4), ("squeeze=max", 4)]
    assert common == ["experiment=ablate_digits"]
    table = format_table(rows)
    assert "ablation" not in table and "loggers" not in table and "rerun" not in table


def test_a_folder_with_two_settings_compares_each_variant_with_its_own_baseline_and_says_so(tmp_path):
    """Jobs of 15 and of 3 epochs in one folder (run into one hydra.sweep.dir, or by an older version): rows
    grouped by setting, each variant against the baseline of its settings, and a line that says so."""
    from se_variants.runner.report import _markdown

    records = _stat_records({"none": [0.90, 0.91, 0.92], "max": [0.93, 0.94, 0.95]})
    short = _stat_records({"none": [0.60, 0.62, 0.64], "max": [0.70, 0.71, 0.72]})
    for r in short:
        r.update(context_hash="c3", variant_hash=r["variant_hash"] + "3", config_hash=r["config_hash"] + "3",
                 started=r["started"].replace("00:00:", "00:01:"), job_dir=r["job_dir"] + "-3")
        r["overrides"].append("trainer.max_epochs=3")
    rows, common = summarize(records + short)
    assert [r["variant"] for r in rows] == ["block=none", "squeeze=max", "block=none trainer.max_epochs=3",
                                            "squeeze=max trainer.max_epochs=3"]
    assert rows[1]["delta_pp"] == pytest.approx(3.0) and rows[3]["delta_pp"] == pytest.approx(9.0)
    for text in (format_table(rows), _markdown(tmp_path, records + short, rows, common)):
        assert "this folder holds jobs of 2 different settings" in text and "trainer.max_epochs=3" in text
    one, _ = summarize(records)
    assert "different settings" not in format_table(one)


def test_the_table_says_the_minimum_detectable_effect():
    """The footer: the true Δ the run's seeds detect with 80 % power, from the baseline's seed std, for one
    comparison and for a variant to pass Holm over the family."""
    from se_variants.runner import stats

    records = _stat_records({"none": [0.90, 0.91, 0.93], "max": [0.93, 0.94, 0.95], "std": [0.9, 0.92, 0.94]})
    rows, _ = summarize(records)
    sd = statistics.stdev([90.0, 91.0, 93.0])
    one, holm = stats.detectable_effect(3) * sd, stats.detectable_effect(3, 0.05 / 2) * sd
    table = format_table(rows)
    assert (f"Minimum detectable effect: with 3 seeds per arm and the baseline's seed std of {sd:.2f} pp, a true Δ "
            f"of {one:.2f} pp is found with 80 % power at α = 0.05 in one comparison, and {holm:.2f} pp for a "
            f"variant to differ after Holm over 2") in table
    fewer, _ = summarize(records[:-1])  # a variant with 2 seeds: the fewest seeds of an arm count
    assert "with 2 seeds per arm" in format_table(fewer)
    no_spread, _ = summarize(_stat_records({"none": [0.9, 0.9, 0.9], "max": [0.93, 0.94, 0.95]}))
    assert "detectable" not in format_table(no_spread)  # no seed std: nothing to scale it by


def _search_record(job: str, block: str, seed: int, acc: float | None, status: str = "ok") -> dict:
    record = _record(job, "c", block, seed, acc, status=status, started=f"2024-01-01T00:00:0{seed}")
    if status == "pruned":  # a deliberate stop: no error, the pruner's note in the attempt
        record.update(error=None, attempts=[{"notes": ["the search's pruner stopped this trial after epoch 1 "
                                                       "(val/acc 0.1000)"]}])
    return record


def test_a_search_folder_reports_its_confirmation_apart(tmp_path, capsys):
    """A search folder holds its trials and confirm/, a sweep of its own (its sweep.json): `report` writes one
    report of the trials and one of the confirmation, never pooling the selected trial's seed with the fresh
    seeds; --pool pools them."""
    from se_variants.runner.commands import report_main

    search = tmp_path / "search"
    write_json(search / "sweep.json", {"version": 1, "jobs": []})
    write_json(search / "trial_a" / "metrics.json", _search_record("se", "se", 0, 0.99))
    write_json(search / "trial_b" / "metrics.json", _search_record("eca", "eca", 0, 0.90))
    confirm = search / "confirm"
    write_json(confirm / "sweep.json", {"version": 1, "jobs": []})
    for seed in (1, 2, 3):
        write_json(confirm / f"se{seed}" / "metrics.json", _search_record("se", "se", seed, 0.95))
        write_json(confirm / f"none{seed}" / "metrics.json", _search_record("none", "none", seed, 0.94))
    assert report_main([str(search), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert f"== {search} ==" in out and f"== {confirm} ==" in out
    assert sorted(r["seed"] for r in write_report(search, plot=False)["records"]) == [0, 0]  # the trials only
    assert [r["n"] for r in write_report(confirm, plot=False)["rows"]] == [3, 3]  # the fresh seeds only
    assert report_main([str(search), "--no-plot", "--pool"]) == 0
    assert "==" not in capsys.readouterr().out
    pooled = write_report(search, plot=False, pool=True)["records"]
    assert sorted(r["seed"] for r in pooled if r["variant_hash"] == "se") == [0, 1, 2, 3]


def test_pruned_jobs_are_reported_as_pruned(tmp_path):
    """A job a search's pruner stopped is pruned -- counted apart, with its pruner's note -- never failed with the
    advice to re-run it."""
    write_json(tmp_path / "a" / "metrics.json", _search_record("se", "se", 0, 0.9))
    write_json(tmp_path / "b" / "metrics.json", _search_record("eca", "eca", 0, None, status="pruned"))
    result = write_report(tmp_path, plot=False)
    md = (tmp_path / "report.md").read_text()
    assert "2 jobs in" in md and "1 ok, 1 pruned, 0 failed or unfinished" in md
    assert "pruner stopped this trial after epoch 1" in md and "on purpose" in md
    assert "re-run" not in md and "interrupted" not in md and "resume it" not in md
    eca = next(r for r in result["rows"] if r["variant_hash"] == "eca")
    assert eca["pruned"] == 1 and eca["failed"] == 0 and "(1 pruned)" in format_table(result["rows"])


@pytest.mark.parametrize("value, alpha, text", [
    (None, 0.05, "–"), (0.0004, 0.05, "<0.001"), (0.0781, 0.05, "0.078"), (0.0781, None, "0.078"),
    (0.049621, 0.05, "0.0496"),   # 3 decimals would print α itself beside a "yes"
    (0.050371, 0.05, "0.0504"),   # ... or beside a "no"
    (0.049621, None, "0.050"), (0.05, 0.05, "0.050"), (0.0096, 0.01, "0.0096"), (0.0096, 0.05, "0.010"),
])
def test_a_p_value_that_rounds_onto_alpha_keeps_a_fourth_decimal(value, alpha, text):
    from se_variants.runner.tables import p_text

    assert p_text(value, alpha) == text
