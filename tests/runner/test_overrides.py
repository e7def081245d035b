"""Bad overrides fail before any training: exit code 2, a message naming the key or option and what would
work, and no traceback."""

from __future__ import annotations

import pytest

from se_variants.runner.train_cmd import main

from .conftest import run_cli

CASES = [
    (["squeeze=maxx"], ["squeeze", "'maxx'", "Did you mean 'max'"]),  # unknown group option
    (["block=cbm"], ["block", "'cbm'", "Did you mean 'cbam'"]),
    (["squeeze.axis=h"], ["squeeze.axis", "Did you mean 'axes'"]),  # misspelled key
    (["+squeeze.axis=h"], ["squeeze", "'axis'", "Did you mean 'axes'"]),
    (["trainer.max_epoch=3"], ["trainer.max_epoch", "Did you mean 'max_epochs'"]),
    (["seed=abc"], ["seed", "abc"]),  # wrong type, top level (schema)
    (["trainer.max_epochs=many"], ["trainer.max_epochs", "many"]),
    (["excite.reduction=abc"], ["excite", "'reduction'", "expected float"]),  # wrong type, part option
    (["squeeze.axes=3"], ["squeeze", "'axes'", "'hw'"]),
    (["block=cbam", "block.reduction=x"], ["block", "'reduction'", "expected float"]),
    (["model.placement=side"], ["model", "'placement'", "'standard'"]),
    (["block=cbam", "squeeze=max"], ["squeeze", "block=cbam", "block=parts"]),  # parts ignored by a preset
    (["block=multi_input"], ["block", "fusion"]),  # multi-input block cannot go into a model
    (["gate=softmax"], ["gate 'softmax'", "fusion"]),
    (["trainer.loggers=[csvv]"], ["trainer.loggers", "Did you mean 'csv'"]),
    (["trainer.strategy=ddp"], ["trainer.strategy", "ddp_spawn"]),
    (["squeeze=avg,max"], ["-m"]),  # several values without -m
    (["-m", "squeeze=avg,maxx"], ["'maxx'", "Did you mean 'max'"]),  # in a sweep: before the first job runs
    (["imports=[no_such_module_xyz]"], ["imports", "no_such_module_xyz"]),
]


@pytest.mark.parametrize("argv,expected", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_override_names_the_key(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, f"{text!r} not in: {err}"
    assert "Traceback" not in err
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()  # nothing ran


def test_cli_exit_code_and_message(tmp_path):
    proc = run_cli(["train", "excite=conv1dd", "trainer.max_epochs=1"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown excite option 'conv1dd'. Did you mean 'conv1d'?" in proc.stderr
    assert "Traceback" not in proc.stderr
