"""`se-variants ablate`: the default ablation's content; a tiny ablation run in-process end to end (table, report
files, skip on re-run); a user's experiment found through --config-dir or hydra.searchpath (ablate and train -m);
--dry-run trains nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from se_variants import EXCITE
from se_variants.runner.commands import ablate_main as main
from se_variants.runner.configs import compose

from .conftest import briefs, sweep_results, tail

pytestmark = pytest.mark.slow

TINY = ['ablation.variants=["block=none","squeeze=max excite=conv1d"]', "ablation.seeds=[0,1]",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2"]

#: a user's experiment: 2 variants × 1 seed, one epoch of a few batches
MINE = """# @package _global_
trainer:
  max_epochs: 1
  limit_train_batches: 2
  limit_val_batches: 1
  limit_test_batches: 1
ablation:
  name: mine
  seeds: [0]
  variants:
    - block=none
    - squeeze=max
"""


def test_default_ablation_covers_the_design():
    cfg = compose(["experiment=ablate_digits"])
    variants = [v.split() for v in cfg.ablation.variants]
    assert ["block=none"] in variants and len(variants) - 1 >= 8 and len(cfg.ablation.seeds) >= 2
    excites = {o.split("=")[1] for v in variants for o in v if o.startswith("excite=")}
    squeezes = {o.split("=")[1] for v in variants for o in v if o.startswith("squeeze=")}
    assert excites == set(EXCITE.names())  # every excitation op
    assert {"avg", "max", "avgmax", "std", "meanstd", "dct", "conv", "attn", "h", "c"} <= squeezes
    assert cfg.data.name == "digits" and cfg.model.depth == 8


def test_tiny_ablation_end_to_end(tmp_path, capsys):
    """The default experiment cut down to 2 variants × 2 seeds, on the default launcher (a worker process: one,
    hydra.launcher.n_jobs=1 -- test_launchers.py runs several)."""
    out = tmp_path / "abl"
    code = main([*TINY, "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={out}"])
    printed, err = capsys.readouterr()
    assert code == 0, (printed, tail(err))
    assert "Ablation 'digits': 2 variants × 2 seeds = 4 jobs" in printed and "(workers)" in printed, printed
    assert "4 of 4 jobs ok" in printed and "baseline" in printed and "squeeze=max excite=conv1d" in printed, printed
    assert printed.count("[ok]") == 4, printed
    for name in ("report.md", "report.csv", "jobs.csv", "report.png", "sweep.json"):
        assert (out / name).is_file(), name
    with open(out / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["block=none", "squeeze=max excite=conv1d"], rows
    assert rows[0]["baseline"] == "True" and rows[1]["delta_pp"] != "", rows
    delta = float(rows[1]["mean"]) - float(rows[0]["mean"])
    assert abs(float(rows[1]["delta_pp"]) - delta) < 1e-9, rows
    finished = {name: r["finished"] for name, r in sweep_results(out).items()}
    code = main([*TINY, "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={out}"])  # all four done before: nothing runs
    printed, err = capsys.readouterr()
    assert code == 0, (printed, tail(err))
    assert "4 done before (skipped); 0 to run" in printed and "4 of 4 jobs ok" in printed and "[ok]" not in printed, \
        printed
    assert {name: r["finished"] for name, r in sweep_results(out).items()} == finished


def test_ablate_refuses_a_bad_variant(tmp_path, capsys):
    assert main(['ablation.variants=["squeeze=maxx"]', f"hydra.sweep.dir={tmp_path / 'x'}"]) == 2
    assert "Did you mean 'max'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.fixture
def my_configs(tmp_path, monkeypatch) -> Path:
    """``cfg/experiment/mine.yaml`` in a fresh working folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg" / "experiment").mkdir(parents=True)
    (tmp_path / "cfg" / "experiment" / "mine.yaml").write_text(MINE)
    return tmp_path / "cfg"


def test_a_users_experiment_through_config_dir_or_searchpath(my_configs, tmp_path, sv):
    """``ablate --config-dir <dir> experiment=mine`` runs the experiment's variants × seeds; ``hydra.searchpath``
    finds the same file for ``ablate`` and for ``train -m``: the same jobs -- the same folders and configs, so
    that, planned over the first command's sweep, every job of theirs is one it finished (their dry runs skip
    every job, in the same folder; a job whose config differs in anything would be planned to run)."""
    searchpath = f"hydra.searchpath=[file://{my_configs}]"
    sweep = tmp_path / "mine"
    code, out, err = sv("ablate", "--config-dir", "cfg", "experiment=mine", "hydra/launcher=basic",
                        f"hydra.sweep.dir={sweep}")
    assert code == 0, tail(err, 2000)
    assert "2 of 2 jobs ok" in out and out.count("[ok]") == 2, out
    assert "Ablation 'mine': 2 variants × 1 seed = 2 jobs" in out, out
    first = sweep_results(sweep)
    assert sorted(r["overrides"][-2] for r in first.values()) == ["block=none", "squeeze=max"], briefs(first)
    assert all(r["status"] == "ok" and r["config"]["trainer"]["max_epochs"] == 1 and r["seed"] == 0
               for r in first.values()), briefs(first)
    for argv in (["ablate", searchpath, "experiment=mine"], ["train", "-m", searchpath, "experiment=mine"]):
        code, out, err = sv(*argv, "hydra/launcher=basic", f"hydra.sweep.dir={sweep}", "--dry-run")
        assert code == 0, (argv, tail(err, 2000))
        planned = [line for line in out.splitlines() if line.startswith("[")]
        assert len(planned) == 2 and all(line.startswith("[skip]") for line in planned), (argv, out)
        assert sorted(line.rsplit("→  ", 1)[-1] for line in planned) == sorted(str(sweep / n) for n in first), \
            (argv, out)  # the same job folders


def test_dry_run_lists_the_jobs_and_trains_nothing(my_configs, tmp_path, sv):
    out_dir = tmp_path / "dry"
    code, out, err = sv("ablate", "--dry-run", "--config-dir", "cfg", "experiment=mine", f"hydra.sweep.dir={out_dir}")
    assert code == 0, err[-2000:]
    lines = [line for line in out.splitlines() if line.startswith("[run ]")]
    assert len(lines) == 2 and all(f"→  {out_dir}/" in line for line in lines)
    assert any("block=none seed=0" in line for line in lines) and any("squeeze=max seed=0" in line for line in lines)
    assert "Dry run: 2 jobs: 0 finished, 2 to run" in out and f"→ {out_dir}." in out and "Nothing was trained." in out
    assert not out_dir.exists() and not list(tmp_path.rglob("metrics.json"))

    # the same plan over a folder where the jobs finished: skipped, still nothing written
    code, _, err = sv("ablate", "--config-dir", "cfg", "experiment=mine", "hydra/launcher=basic",
                      f"hydra.sweep.dir={out_dir}")
    assert code == 0, err[-2000:]
    before = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()}
    code, out, err = sv("ablate", "--dry-run", "--config-dir", "cfg", "experiment=mine", "hydra/launcher=basic",
                        f"hydra.sweep.dir={out_dir}")
    assert code == 0, err[-2000:]
    assert out.count("[skip]") == 2 and "Dry run: 2 jobs: 2 finished, 0 to run" in out
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()} == before
    assert json.loads((out_dir / "sweep.json").read_text())["launcher"] == "basic"


def test_a_users_ablation_defaults_to_outputs_ablate_its_name(my_configs, tmp_path, sv):
    """Without hydra.sweep.dir, ``ablate`` puts a user's experiment in outputs/ablate/<ablation.name>, as the
    shipped ones; ``train -m`` of the same experiment names its folder after its arguments under multirun/."""
    code, out, err = sv("ablate", "--dry-run", "--config-dir", "cfg", "experiment=mine")
    assert code == 0, err[-2000:]
    assert "→  outputs/ablate/mine/" in out and "→ outputs/ablate/mine." in out, out
    code, out, err = sv("train", "-m", "--dry-run", "--config-dir", "cfg", "experiment=mine")
    assert code == 0, err[-2000:]
    assert "→ multirun/experiment-mine." in out, out
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


#: an experiment of smoke-sized jobs (one epoch of two batches): a baseline and one variant, 3 seeds
MINI = """# @package _global_
defaults:
  - override /trainer: smoke
ablation:
  name: mini
  seeds: [0, 1, 2]
  variants:
    - block=none
    - squeeze=max
"""


def test_other_settings_get_a_folder_of_their_own_and_more_seeds_go_on_in_the_same(tmp_path, monkeypatch, sv):
    """After an ablation, the same ablation with another epoch count writes into a folder named by it: its table
    has one baseline, and no run knob in a label; more seeds (a run knob) go on in the first folder, where the
    label does not say [0,1,2,3] while n = 4."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg" / "experiment").mkdir(parents=True)
    (tmp_path / "cfg" / "experiment" / "mini.yaml").write_text(MINI)
    mini = ["ablate", "--config-dir", "cfg", "experiment=mini", "hydra/launcher=basic"]
    first, second = tmp_path / "outputs/ablate/mini", tmp_path / "outputs/ablate/mini_trainer.max_epochs-2"

    code, out, err = sv(*mini)
    assert code == 0 and "6 of 6 jobs ok" in out, err[-2000:]
    before = {name: r["finished"] for name, r in sweep_results(first).items()}

    other = [*mini, "trainer.max_epochs=2", "trainer.loggers=[csv]"]
    code, out, err = sv(*other, "--dry-run")
    assert code == 0 and "Dry run: 6 jobs: 0 finished, 6 to run" in out and f"→ {second.relative_to(tmp_path)}." in out
    code, out, err = sv(*other)
    assert code == 0 and "6 of 6 jobs ok" in out, err[-2000:]
    rows = _report_rows(second)
    assert [r["variant"] for r in rows if r["baseline"] == "True"] == ["block=none"]  # one baseline
    assert [r["variant"] for r in rows] == ["block=none", "squeeze=max"] and rows[1]["delta_pp"] != ""
    assert "trainer.loggers" not in out and "ablation" not in out.replace("Ablation", "")
    assert {name: r["finished"] for name, r in sweep_results(first).items()} == before  # the first folder as it was
    assert all(r["config"]["trainer"]["max_epochs"] == 2 for r in sweep_results(second).values())

    code, out, err = sv(*mini, "ablation.seeds=[0,1,2,3]")
    assert code == 0 and "6 done before (skipped); 2 to run" in out and "8 of 8 jobs ok" in out, err[-2000:]
    rows = _report_rows(first)
    assert [(r["variant"], r["n"]) for r in rows] == [("block=none", "4"), ("squeeze=max", "4")]
    assert "[0,1,2,3]" not in out and not (tmp_path / "outputs/ablate/mini_ablation.seeds-[0+1+2+3]").exists()


def _report_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "report.csv") as f:
        return list(csv.DictReader(f))
