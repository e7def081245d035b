"""scripts/ucr_table.py: the page's figures from a sweep folder of ucr_fcn records equal scipy's and statsmodels'
statistics of those records; the page is rendered from the figures alone; and the committed page, once the full
run has generated it, is exactly what the script renders from the committed figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from se_variants.runner.configs import compose
from se_variants.runner.files import write_json

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ucr_table.py"
PAGE, FIGURES = ROOT / "docs" / "ucr.md", ROOT / "docs" / "figures" / "ucr.json"


@pytest.fixture(scope="module")
def ucr_table():
    spec = importlib.util.spec_from_file_location("ucr_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def experiment():
    cfg = compose(["experiment=ucr_fcn"])
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def _sweep(folder: Path, experiment: dict, accs: dict[tuple[str, str], list[float]]) -> None:
    """metrics.json records shaped like the experiment's jobs (test accuracies made up for the test)."""
    for (dataset, block), values in accs.items():
        for seed, acc in enumerate(values):
            overrides = ["experiment=ucr_fcn", f"data.name={dataset}", f"block={block}", f"seed={seed}"]
            write_json(folder / f"{dataset}-{block}-{seed}" / "metrics.json", {
                "schema": 2, "status": "ok", "config_hash": f"{dataset}-{block}-{seed}", "job": f"{dataset}-{block}",
                "variant_hash": f"{dataset}-{block}", "context_hash": dataset, "block": block, "squeeze": None,
                "excite": None, "gate": None, "seed": seed, "overrides": overrides, "epochs": 2000,
                "metrics": {"test": {"acc": acc}}, "params": 1, "flops": 1, "latency_ms": 1.0, "wall_time_s": 100.0,
                "started": f"2026-01-01T00:{len(accs):02d}:{seed:02d}", "finished": "x", "error": None,
                "data": {"name": dataset}, "versions": {"torch": "2.14.1"},
                "host": {"cpu_model": "Test CPU", "cpus": 2, "platform": "Linux"},
                "config": {**experiment, "seed": seed}})


@pytest.mark.slow
def test_the_figures_are_the_records_statistics(tmp_path, ucr_table, experiment):
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.power import TTestIndPower

    rng = np.random.default_rng(0)
    accs = {}
    for dataset, level in (("ItalyPowerDemand", 0.96), ("ArrowHead", 0.84), ("JapaneseVowels", 0.99)):
        for block, effect in (("none", 0.0), ("se", 0.004), ("eca", -0.003)):
            accs[dataset, block] = list(np.round(level + effect + rng.normal(0, 0.004, 5), 4).clip(0, 1))
    _sweep(tmp_path / "sweep", experiment, accs)
    fig = ucr_table.figures(tmp_path / "sweep")
    published = {p["variant"].split()[0].split("=")[1]: p["values"] for p in experiment["report"]["published"]}
    assert set(fig["datasets"]) == set(published) and fig["machine"]["cpu_model"] == "Test CPU"
    for name, d in fig["datasets"].items():
        ours = [a * 100 for a in accs[name, "none"]]
        theirs = published[name]
        assert d["ours"]["mean"] == pytest.approx(np.mean(ours)) and d["ours"]["std"] == pytest.approx(
            np.std(ours, ddof=1))
        assert d["ours"]["ci95"] == pytest.approx(list(st.t.interval(0.95, 4, loc=np.mean(ours), scale=st.sem(ours))))
        assert d["published"]["mean"] == pytest.approx(np.mean(theirs)) and d["published"]["n"] == 10
        assert d["p_welch"] == pytest.approx(st.ttest_ind(ours, theirs, equal_var=False).pvalue, rel=1e-9)
        assert d["sd_ratio"] == pytest.approx(np.std(ours, ddof=1) / np.std(theirs, ddof=1))
        ps = [st.ttest_ind([a * 100 for a in accs[name, b]], ours, equal_var=False).pvalue for b in ("se", "eca")]
        assert [d["variants"][b]["p"] for b in ("se", "eca")] == pytest.approx(ps, rel=1e-9)
        assert [d["variants"][b]["p_holm"] for b in ("se", "eca")] == \
            pytest.approx(list(multipletests(ps, method="holm")[1]), rel=1e-9)
        power = TTestIndPower().solve_power(effect_size=None, nobs1=5, alpha=0.025, power=0.8)
        assert d["detectable"]["d"] == pytest.approx(power, rel=1e-4)
        assert d["detectable"]["pp"] == pytest.approx(power * np.std(ours, ddof=1), rel=1e-4)
    page = ucr_table.render(fig)
    for name, d in fig["datasets"].items():
        assert f"| {name} | {d['published']['mean']:.2f} ± {d['published']['std']:.2f} (10) | " \
               f"{d['ours']['mean']:.2f} ± {d['ours']['std']:.2f} (5) |" in page


def test_the_script_writes_the_page_and_the_figures(tmp_path, ucr_table, experiment):
    _sweep(tmp_path / "sweep", experiment, {("ItalyPowerDemand", "none"): [0.96, 0.962, 0.958],
                                            ("ItalyPowerDemand", "se"): [0.97, 0.961, 0.965]})
    page, figures = tmp_path / "ucr.md", tmp_path / "figures" / "ucr.json"
    assert ucr_table.main(["--sweep", str(tmp_path / "sweep"), "--page", str(page), "--figures", str(figures)]) == 0
    fig = json.loads(figures.read_text())
    assert page.read_text() == ucr_table.render(fig)
    assert "ItalyPowerDemand" in page.read_text() and "`data.name=ArrowHead block=none`" in page.read_text()


def test_the_committed_page_is_what_the_script_renders(ucr_table):
    """docs/ucr.md is generated by the lead's full run of the experiment; once committed, it must be the script's
    rendering of docs/figures/ucr.json (nothing edited by hand)."""
    if not PAGE.exists() and not FIGURES.exists():
        pytest.skip("docs/ucr.md is written by the full run: python scripts/ucr_table.py --run")
    assert PAGE.read_text() == ucr_table.render(json.loads(FIGURES.read_text()))
