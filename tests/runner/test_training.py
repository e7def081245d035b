"""Training through the real entry points on small data: metrics.json, checkpoints with plain hyperparameters,
CSV and TensorBoard logs, resume of an interrupted run, and the same metrics for the same seed."""

from __future__ import annotations

import json
import os

import pytest
import torch

from se_variants.runner.configs import compose
from se_variants.runner.job import run_job
from se_variants.runner.files import read_json
from se_variants.runner.validate import check_config

from .conftest import brief, error_message, error_type, run_cli, tail

SMOKE = ["trainer=smoke", "checkpoint_every_s=0"]  # (a checkpoint after every epoch: resume tests kill between)

pytestmark = pytest.mark.slow


def _cfg(*overrides: str) -> dict:
    return check_config(compose([*SMOKE, *overrides]))


def test_job_on_generated_cifar(tmp_path, data_root, cifar_checksums):
    """One epoch of a few batches on a CIFAR-format tree: metrics.json, weights-only checkpoint, logs."""
    run_dir = tmp_path / "run"
    cfg = _cfg("model=resnet20", "data=cifar10", f"data.root={data_root}", "data.download=false", "data.val_size=20",
               "data.num_workers=0", "squeeze=max", "excite=conv1d", "trainer.loggers=[csv]")
    record = run_job(cfg, run_dir, ["squeeze=max", "excite=conv1d"])
    assert record["status"] == "ok" and record["error"] is None, brief(record)
    assert (record["block"], record["squeeze"], record["excite"], record["gate"]) == ("parts", "max", "conv1d", "sigmoid")
    assert record["seed"] == 0 and "squeeze=max" in record["overrides"], record["overrides"]
    for stage in ("train", "val", "test"):
        assert 0.0 <= record["metrics"][stage]["acc"] <= 1.0 and record["metrics"][stage]["loss"] > 0, brief(record)
    assert record["metrics"]["test"]["n"] == 20 and record["metrics"]["val"]["n"] == 20, brief(record)
    assert record["params"] > 250_000 and record["flops"] > 0 and record["latency_ms"] > 0, \
        (record["params"], record["flops"], record["latency_ms"])
    assert record["wall_time_s"] > 0 and record["versions"]["torch"] and record["data"]["sizes"]["test"] == 20, \
        (brief(record), record["versions"], record["data"])
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)  # hyperparameters are plain values: the safe loader accepts them
    assert state["hyper_parameters"]["model"]["depth"] == 20
    assert (run_dir / "logs" / "metrics.csv").is_file()
    assert read_json(run_dir / "metrics.json") == json.loads(json.dumps(record))


def test_per_class_accuracy_and_confusion_matrix(tmp_path):
    record = run_job(_cfg(), tmp_path / "job")
    assert record["status"] == "ok", brief(record)
    per = record["per_class"]["test"]
    cm = torch.tensor(per["confusion"])
    assert cm.shape == (10, 10) and int(cm.sum()) == record["metrics"]["test"]["n"] == 256  # smoke: 2 batches
    assert per["support"] == cm.sum(1).tolist()
    for k in range(10):
        expected = cm[k, k].item() / cm[k].sum().item() if cm[k].sum() else None
        assert per["acc"][k] == pytest.approx(expected) if expected is not None else per["acc"][k] is None
    assert cm.diagonal().sum().item() / cm.sum().item() == pytest.approx(record["metrics"]["test"]["acc"], abs=1e-6)


def test_tensorboard_logger(tmp_path):
    pytest.importorskip("tensorboard", reason="trainer.loggers=[tensorboard] needs se-variants[tensorboard]")
    record = run_job(_cfg("trainer.loggers=[csv,tensorboard]"), tmp_path / "tb")
    assert record["status"] == "ok", brief(record)
    assert list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "tb" / "logs" / "metrics.csv").is_file()


def test_a_single_run_is_quiet_and_names_its_results(tmp_path):
    """`se-variants train` in a subprocess (not a terminal): no library banners, tips or warnings about the
    library, no progress bar; a line with the result and a last line naming the results."""
    run_dir = tmp_path / "run"
    proc = run_cli(["train", *SMOKE, "block=cbam", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, tail(proc.stderr)
    record = read_json(run_dir / "metrics.json")
    assert record["status"] == "ok" and record["block"] == "cbam" and record["squeeze"] is None, brief(record)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) <= 3, lines
    for noise in ("GPU available", "Tip", "litlogger", "LeafSpec", "logging interval", "Epoch 0", "Trainable params"):
        assert noise not in proc.stdout + proc.stderr, (noise, lines)
    assert proc.stdout.strip().splitlines()[-1:] == [f"Results: {run_dir / 'metrics.json'}"], lines


def test_verbose_shows_the_library_messages(tmp_path, caplog):
    """verbose=true lets Lightning's own lines through (its info logger: "GPU available: ...")."""
    import logging

    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        record = run_job(_cfg("verbose=true"), tmp_path / "v")
    assert record["status"] == "ok", brief(record)
    assert any("GPU available" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        run_job(_cfg(), tmp_path / "q")
    assert not any("GPU available" in r.getMessage() for r in caplog.records)


def test_same_seed_same_metrics(tmp_path):
    a = run_job(_cfg("seed=3"), tmp_path / "a")
    b = run_job(_cfg("seed=3"), tmp_path / "b")
    c = run_job(_cfg("seed=4"), tmp_path / "c")
    assert a["status"] == b["status"] == c["status"] == "ok", (brief(a), brief(b), brief(c))
    assert a["metrics"] == b["metrics"], (a["metrics"], b["metrics"])
    assert a["metrics"] != c["metrics"], (a["metrics"], c["metrics"])


def test_resume_from_an_explicit_checkpoint_of_the_same_config(tmp_path):
    cfg = _cfg("trainer.max_epochs=2")
    first = run_job(cfg, tmp_path / "job")
    again = run_job({**cfg, "ckpt_path": str(tmp_path / "job" / "checkpoints" / "last.ckpt")}, tmp_path / "copy")
    assert again["status"] == "ok" and again["attempts"][-1]["from_epoch"] == 2, brief(again)
    assert again["metrics"] == first["metrics"], (brief(again), brief(first))  # nothing left to train: the same


def test_a_checkpoint_of_another_config_is_refused(tmp_path, monkeypatch, capsys):
    """ckpt_path of a seed-1 job given to a seed-0 job: refused with the differing key, before and during a run;
    a later plain run of seed 0 is not mistaken for done."""
    from se_variants.runner.commands import train_main as main

    seed1 = run_job(_cfg("seed=1"), tmp_path / "s1")
    ckpt = tmp_path / "s1" / "checkpoints" / "last.ckpt"
    monkeypatch.chdir(tmp_path)
    assert main([*SMOKE, "seed=0", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 's0'}"]) == 2
    err = capsys.readouterr().err
    assert "ckpt_path" in err and "another config" in err and "seed: 1 → 0" in err, err
    record = run_job({**_cfg("seed=0"), "ckpt_path": str(ckpt)}, tmp_path / "s0")
    assert record["status"] == "failed" and error_type(record) == "CheckpointError", brief(record)
    plain = run_job(_cfg("seed=0"), tmp_path / "s0")
    assert plain["status"] == "ok" and not plain.get("skipped") and plain["metrics"] != seed1["metrics"], \
        (brief(plain), brief(seed1))


def test_a_failing_job_writes_a_failed_result(tmp_path):
    cfg = _cfg()
    record = run_job({**cfg, "optim": {**cfg["optim"], "lr": -1.0}}, tmp_path / "bad")  # (the planner refuses it)
    assert record["status"] == "failed" and "lr must be >= 0" in error_message(record), brief(record)
    written = read_json(tmp_path / "bad" / "metrics.json")
    assert written["status"] == "failed", brief(written)


def test_killed_mid_training_resumes_exactly(tmp_path):
    """A job that dies in epoch k leaves last.ckpt of epoch k-1; re-running it continues from there and ends with
    exactly the metrics of an uninterrupted run, for every k (the per-epoch history too)."""
    from se_variants import SQUEEZE, Descriptor
    from se_variants.squeeze import Squeeze

    calls = {"n": 0, "fail_at": None}
    per_epoch = 2 * 3  # limit_train_batches=2 × 3 blocks (depth 8)

    class DiesOnce(Squeeze):
        """Average pooling that raises at one chosen training call. Shapes: (N, C, H, W) → (N, 1, C, 1, 1)."""

        def __init__(self, channels: int):
            super().__init__(channels)
            self.descriptor = Descriptor(channels, 1, ("c",))

        def forward(self, x):
            if self.training and torch.is_grad_enabled():
                calls["n"] += 1
                if calls["n"] == calls["fail_at"]:
                    raise RuntimeError("killed")
            return x.mean((2, 3), keepdim=True).unsqueeze(1)

    SQUEEZE.register("dies_once")(DiesOnce)
    try:
        cfg = {**_cfg("trainer.max_epochs=3", "trainer.loggers=[csv]"), "squeeze": {"name": "dies_once"}}
        reference = run_job(cfg, tmp_path / "reference")
        assert reference["status"] == "ok", brief(reference)
        for k in (1, 2):
            calls.update(n=0, fail_at=per_epoch * k + 1)
            first = run_job(cfg, tmp_path / f"k{k}")
            assert first["status"] == "failed" and error_message(first) == "killed", brief(first)
            calls.update(n=0, fail_at=None)
            again = run_job(cfg, tmp_path / f"k{k}")
            assert again["status"] == "ok" and again["epochs"] == 3, brief(again)
            assert [a["outcome"] for a in again["attempts"]] == ["failed", "ok"], brief(again)
            assert again["attempts"][1]["from_epoch"] == k, brief(again)
            assert again["metrics"] == reference["metrics"] and again["history"] == reference["history"], \
                (brief(again), brief(reference))
            assert again["wall_time_s"] == pytest.approx(sum(a["wall_time_s"] or 0 for a in again["attempts"]),
                                                         abs=1e-3), brief(again)
            assert (tmp_path / f"k{k}" / "logs" / "metrics.csv").is_file()  # the first attempt's log is kept
    finally:
        SQUEEZE.unregister("dies_once")


@pytest.mark.parametrize("built, devices, preset, hidden", [
    (True, 0, None, True),    # a CUDA build of torch, no GPU: hidden (no NVML load at every optimizer step)
    (True, 2, None, False),   # GPUs: left alone
    (True, 0, "0", False),    # the user's own setting: left alone
    (False, 0, None, False),  # a CPU build: nothing to probe
])
def test_gpu_probes_are_skipped_only_where_there_is_no_gpu(built, devices, preset, hidden, monkeypatch):
    from se_variants.runner.job import skip_gpu_probes

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: built)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: devices)
    if preset is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", preset)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # (whatever it sets goes with the test)
    assert skip_gpu_probes() is hidden
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == ("" if hidden else preset)


def test_the_data_leave_a_batch_where_it_is_and_move_any_other():
    """The data's own batch transfer: a batch already on the CPU is handed on as it is (Lightning's generic move
    would rebuild it every step); for another device, or a batch that is not a sequence of tensors, Lightning's
    move. The module's hook bookkeeping (``_current_fx_name``, set as a plain attribute) reads back as Lightning
    sets it."""
    from se_variants.runner.lit import Classifier, ImageData

    data = ImageData(splits=None)  # (the transfer reads no split)
    batch = (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    assert data.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = data.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [t.device.type for t in moved] == ["meta", "meta"]
    named = data.transfer_batch_to_device({"x": batch[0]}, torch.device("meta"), 0)
    assert named["x"].device.type == "meta"
    clf = Classifier(torch.nn.Linear(2, 3), 3, {"name": "sgd", "lr": 0.1}, {"name": "constant"}, epochs=1)
    clf._current_fx_name = "training_step"
    assert clf._current_fx_name == "training_step" and "_current_fx_name" not in clf._modules
    clf.head = torch.nn.Linear(3, 3)  # any other attribute: nn.Module's rules (a submodule is registered)
    assert "head" in clf._modules
