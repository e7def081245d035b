"""`se-variants ablate`: the default ablation's content, and a tiny ablation run in-process end to end (table,
report files, skip on re-run)."""

from __future__ import annotations

import csv

from se_variants import EXCITE
from se_variants.runner.train_cmd import ablate_main as main
from se_variants.runner.hydra_app import compose

TINY = ['ablation.variants=["block=none","squeeze=max excite=conv1d"]', "ablation.seeds=[0,1]",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2"]


def test_default_ablation_covers_the_design():
    cfg = compose(["experiment=ablate_digits"])
    variants = [v.split() for v in cfg.ablation.variants]
    assert ["block=none"] in variants and len(variants) - 1 >= 8 and len(cfg.ablation.seeds) >= 2
    excites = {o.split("=")[1] for v in variants for o in v if o.startswith("excite=")}
    squeezes = {o.split("=")[1] for v in variants for o in v if o.startswith("squeeze=")}
    assert excites == set(EXCITE.names())  # every excitation op
    assert {"avg", "max", "avgmax", "std", "meanstd", "dct", "conv", "attn", "h", "c"} <= squeezes
    assert cfg.data.name == "digits" and cfg.model.depth == 8


def test_tiny_ablation_end_to_end(tmp_path, capfd):
    out = tmp_path / "abl"
    assert main([*TINY, f"hydra.sweep.dir={out}"]) == 0
    printed = capfd.readouterr().out  # the jobs print from joblib's worker processes
    assert "4 of 4 jobs ok" in printed and "baseline" in printed and "squeeze=max excite=conv1d" in printed
    for name in ("report.md", "report.csv", "jobs.csv", "report.png"):
        assert (out / name).is_file()
    with open(out / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["block=none", "squeeze=max excite=conv1d"]
    assert rows[0]["baseline"] == "True" and rows[1]["delta_pp"] != ""
    delta = float(rows[1]["mean"]) - float(rows[0]["mean"])
    assert abs(float(rows[1]["delta_pp"]) - delta) < 1e-9
    assert main([*TINY, f"hydra.sweep.dir={out}"]) == 0  # all four done before: nothing runs
    assert capfd.readouterr().out.count("[skip]") == 4


def test_ablate_refuses_a_bad_variant(tmp_path, capsys):
    assert main(['ablation.variants=["squeeze=maxx"]', f"hydra.sweep.dir={tmp_path / 'x'}"]) == 2
    assert "Did you mean 'max'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
