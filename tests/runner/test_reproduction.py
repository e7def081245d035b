"""The report's reproduction check (report.published): the statistics of a reproduction row against scipy, the
smallest detectable effect against statsmodels, which variants a reference matches, the files and the printed
table, the checks of the references; and that an experiment over several datasets compares each within itself
(its own baseline, Holm within each)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats as st

from se_variants.runner import stats
from se_variants.registry import spec_to_dict
from se_variants.runner.configs import Composer, compose
from se_variants.runner.files import write_json
from se_variants.runner.identity import config_hashes
from se_variants.runner.report import format_table, summarize, write_report
from se_variants.runner.reproduction import check_published
from se_variants.runner.validate import ConfigError, check_config

PUBLISHED = [96.02, 95.63, 96.21, 96.02, 96.50, 95.82, 96.31, 96.40, 96.40, 95.72]  # Fawaz et al., ItalyPowerDemand


@pytest.mark.parametrize("ours", [[96.31, 95.92, 96.50], [94.0, 95.5, 95.1, 96.0, 94.7], [96.1, 96.1, 96.2, 96.0]])
def test_reproduction_row_equals_scipy(ours):
    """Mean, sample sd, the t-interval (scipy.stats.t.interval), their mean inside it, Welch's p
    (scipy.stats.ttest_ind, equal_var=False) and the sd ratio; rel 1e-9."""
    r = stats.reproduction(ours, PUBLISHED)
    n = len(ours)
    low, high = st.t.interval(0.95, n - 1, loc=np.mean(ours), scale=st.sem(ours))
    assert (r.ours.n, r.theirs.n) == (n, 10)
    assert r.ours.mean == pytest.approx(np.mean(ours), rel=1e-9)
    assert r.ours.std == pytest.approx(np.std(ours, ddof=1), rel=1e-9)
    assert (r.ours.ci_low, r.ours.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert r.theirs.mean == pytest.approx(np.mean(PUBLISHED)) and r.theirs.std == pytest.approx(np.std(PUBLISHED,
                                                                                                        ddof=1))
    assert r.inside == bool(low <= np.mean(PUBLISHED) <= high)
    assert r.p_value == pytest.approx(st.ttest_ind(ours, PUBLISHED, equal_var=False).pvalue, rel=1e-9)
    assert r.sd_ratio == pytest.approx(np.std(ours, ddof=1) / np.std(PUBLISHED, ddof=1), rel=1e-9)
    assert r.delta == pytest.approx(np.mean(ours) - np.mean(PUBLISHED), rel=1e-9)


def test_reproduction_with_too_few_seeds_has_no_p():
    two = stats.reproduction([96.0, 96.2], PUBLISHED)
    assert two.p_value is None and two.note == stats.INSUFFICIENT and two.ours.ci_low is not None
    one = stats.reproduction([96.0], PUBLISHED)
    assert one.inside is None and one.sd_ratio is None and one.p_value is None


@pytest.mark.parametrize("n", [3, 5, 10])
def test_detectable_effect_equals_statsmodels(n):
    from statsmodels.stats.power import TTestIndPower

    ref = TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=1.0)
    assert stats.detectable_effect(n) == pytest.approx(ref, rel=1e-4)
    assert stats.seeds_needed(stats.detectable_effect(n)) == n


def _record(dataset: str, block: str, seed: int, acc: float, published=None) -> dict:
    variant = f"{dataset}-{block}"
    return {"schema": 2, "config_hash": f"{variant}-{seed}", "job": f"{variant}-{seed}", "finished": "x",
            "epochs": 1, "status": "ok", "variant_hash": variant, "context_hash": dataset, "block": block,
            "squeeze": None, "excite": None, "gate": None, "seed": seed,
            "overrides": ["experiment=ucr_fcn", f"data.name={dataset}", f"block={block}", f"seed={seed}"],
            "metrics": {"test": {"acc": acc}}, "params": 10, "flops": 20, "latency_ms": 1.0, "wall_time_s": 2.0,
            "started": f"2024-01-01T00:00:{seed:02d}", "error": None,
            "config": {"report": {"alpha": 0.05, "paired": False, "published": published or []}}}


def test_the_report_compares_matching_variants_with_published_runs(tmp_path):
    """A reference matches the variants whose jobs have all its overrides: per dataset, only that dataset's
    baseline; 'block=none' matches both baselines; a reference that matches nothing is noted. reproduction.csv,
    report.md and the printed table carry the numbers scipy gives."""
    published = [
        {"variant": "data.name=A block=none", "source": "paper A", "values": PUBLISHED},
        {"variant": "block=none", "source": "everyone", "values": [90.0, 91.0, 92.0]},
        {"variant": "data.name=C block=none", "source": "paper C", "values": [80.0, 81.0]},
    ]
    accs = {("A", "none"): [0.9631, 0.9592, 0.9650], ("A", "se"): [0.97, 0.96, 0.965],
            ("B", "none"): [0.84, 0.85, 0.83]}
    for (dataset, block), values in accs.items():
        for seed, acc in enumerate(values):
            write_json(tmp_path / f"{dataset}-{block}-{seed}" / "metrics.json",
                       _record(dataset, block, seed, acc, published))
    result = write_report(tmp_path, plot=False)
    checks = result["reproduction"]
    assert [(c["variant"], c["reference"]) for c in checks] == [
        ("data.name=A block=none", "data.name=A block=none"), ("data.name=A block=none", "block=none"),
        ("data.name=B block=none", "block=none"), (None, "data.name=C block=none")]
    with open(tmp_path / "reproduction.csv") as f:
        rows = list(csv.DictReader(f))
    ours = [a * 100 for a in accs[("A", "none")]]
    first = rows[0]
    assert float(first["p_value"]) == pytest.approx(st.ttest_ind(ours, PUBLISHED, equal_var=False).pvalue, rel=1e-6)
    low, high = st.t.interval(0.95, 2, loc=np.mean(ours), scale=st.sem(ours))
    assert float(first["ci95_low"]) == pytest.approx(low) and float(first["ci95_high"]) == pytest.approx(high)
    assert first["published_mean_inside_ci95"] == str(bool(low <= np.mean(PUBLISHED) <= high))
    assert float(first["sd_ratio"]) == pytest.approx(np.std(ours, ddof=1) / np.std(PUBLISHED, ddof=1), rel=1e-6)
    assert rows[3]["variant"] == "" and "no variant of this report" in rows[3]["note"]
    md = (tmp_path / "report.md").read_text()
    assert "## Reproduction" in md and "paper A" in md and "`data.name=C block=none`: paper C" in md
    table = format_table(result["rows"])
    assert "Reproduction" in table and "96.10 ± 0.31 (10)" in table and "paper A" in table
    assert tmp_path / "reproduction.csv" in result["files"]

    for path in tmp_path.glob("*/metrics.json"):  # the references removed: no stale file
        record = json.loads(path.read_text())
        record["config"]["report"]["published"] = []
        write_json(path, record)
    assert write_report(tmp_path, plot=False)["reproduction"] == [] and not (tmp_path / "reproduction.csv").exists()


@pytest.mark.parametrize("entry,match", [
    ({"variant": "data.name", "source": "x", "values": [1, 2]}, "not an override string"),
    ({"variant": "block=none", "source": "", "values": [1, 2]}, "source"),
    ({"variant": "block=none", "source": "x", "values": [96.0]}, "at least 2"),
    ({"variant": "block=none", "source": "x", "values": [0.96, 101.0]}, r"\[0, 100\]"),
], ids=["variant", "source", "one-value", "range"])
def test_bad_references_are_refused_at_planning(entry, match):
    with pytest.raises(ValueError, match=match):
        check_published([entry])
    cfg = compose(["trainer=smoke"])
    plain = check_config(cfg)
    plain["report"]["published"] = [entry]
    with pytest.raises(ConfigError, match=match):
        check_config(plain)


@pytest.mark.slow  # composes the nine variants of ucr_fcn (seconds)
def test_each_dataset_is_compared_within_itself():
    """ucr_fcn's variants: the baseline and the blocks of one dataset share a context (so they are compared), the
    datasets do not; Holm runs within each baseline's family (statsmodels' multipletests per dataset)."""
    from statsmodels.stats.multitest import multipletests

    jobs = [["experiment=ucr_fcn", *variant.split()] for variant in
            compose(["experiment=ucr_fcn"])["ablation"]["variants"]]
    with Composer() as composer:  # one composition session for the nine variants
        configs = composer.jobs(jobs)
    contexts: dict[str, set[str]] = {}
    for job, cfg in zip(jobs, configs):
        dataset = next(o for o in job if o.startswith("data.name="))
        contexts.setdefault(dataset, set()).add(config_hashes(spec_to_dict(cfg))["context_hash"])
    assert len(contexts) == 3 and all(len(c) == 1 for c in contexts.values())
    assert len(set.union(*contexts.values())) == 3

    rng = np.random.default_rng(0)
    records = []
    for dataset, shift in (("A", 0.0), ("B", 0.02)):
        for block, effect in (("none", 0.0), ("se", 0.01), ("eca", 0.03)):
            for seed in range(5):
                r = _record(dataset, block, seed, 0.8 + shift + effect + rng.normal(0, 0.01))
                r["job_dir"] = f"/sweep/{dataset}-{block}-{seed}"
                records.append(r)
    rows, _ = summarize(records)
    for dataset in ("A", "B"):
        family = [r for r in rows if r["variant_hash"].startswith(dataset) and not r["baseline"]]
        expected = multipletests([r["p_value"] for r in family], method="holm")[1]
        assert [r["p_holm"] for r in family] == pytest.approx(list(expected), rel=1e-9)
        base = [r["metrics"]["test"]["acc"] * 100 for r in records if r["variant_hash"] == f"{dataset}-none"]
        for r in family:  # each against its own dataset's baseline
            assert r["delta_pp"] == pytest.approx(r["mean"] - float(np.mean(base)))
