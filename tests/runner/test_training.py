"""Training through the real entry points on small data: metrics.json, checkpoints with plain hyperparameters,
CSV and TensorBoard logs, resume of an interrupted run, and the same metrics for the same seed."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from se_variants.runner.hydra_app import compose
from se_variants.runner.job import run_job
from se_variants.runner.results import read_json
from se_variants.runner.validate import check_config

from .conftest import run_cli

SMOKE = ["trainer=smoke"]


def _cfg(*overrides: str) -> dict:
    return check_config(compose([*SMOKE, *overrides]), build=False)


def test_train_entry_point_on_generated_cifar(tmp_path, data_root):
    """`python -m se_variants.train` from another folder: one epoch of a few batches on a CIFAR-format tree."""
    run_dir = tmp_path / "run"
    proc = run_cli([*SMOKE, "model=resnet20", "data=cifar10", f"data.root={data_root}", "data.download=false",
                    "data.val_size=20", "data.num_workers=0", "squeeze=max", "excite=conv1d",
                    f"hydra.run.dir={run_dir}"],
                   cwd=tmp_path, module="se_variants.train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "ok" and record["error"] is None
    assert (record["block"], record["squeeze"], record["excite"], record["gate"]) == ("parts", "max", "conv1d", "sigmoid")
    assert record["seed"] == 0 and "squeeze=max" in record["overrides"]
    for stage in ("train", "val", "test"):
        assert 0.0 <= record["metrics"][stage]["acc"] <= 1.0 and record["metrics"][stage]["loss"] > 0
    assert record["params"] > 250_000 and record["flops"] > 0 and record["latency_ms"] > 0
    assert record["wall_time_s"] > 0 and record["versions"]["torch"] and record["data"]["sizes"]["test"] == 20
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)  # hyperparameters are plain values: the safe loader accepts them
    assert state["hyper_parameters"]["model"]["depth"] == 20
    assert (run_dir / "logs" / "metrics.csv").is_file()


def test_tensorboard_logger(tmp_path):
    pytest.importorskip("tensorboard", reason="trainer.loggers=[tensorboard] needs se-variants[tensorboard]")
    record = run_job(_cfg("trainer.loggers=[csv,tensorboard]"), tmp_path / "tb", quiet=True)
    assert record["status"] == "ok"
    assert list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "tb" / "logs" / "metrics.csv").is_file()


def test_console_command_is_the_same_app(tmp_path):
    """`se-variants train` (the cli dispatcher) runs the same Hydra app, here with a preset block."""
    run_dir = tmp_path / "run"
    proc = run_cli(["train", *SMOKE, "block=cbam", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_json(run_dir / "metrics.json")
    assert record["status"] == "ok" and record["block"] == "cbam" and record["squeeze"] is None
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_same_seed_same_metrics(tmp_path):
    a = run_job(_cfg("seed=3"), tmp_path / "a", quiet=True)
    b = run_job(_cfg("seed=3"), tmp_path / "b", quiet=True)
    c = run_job(_cfg("seed=4"), tmp_path / "c", quiet=True)
    assert a["status"] == b["status"] == "ok"
    assert a["metrics"] == b["metrics"]
    assert a["metrics"] != c["metrics"]


def test_resume_an_interrupted_run(tmp_path):
    cfg = _cfg("trainer.max_epochs=2")
    first = run_job(cfg, tmp_path / "job", quiet=True)
    assert first["status"] == "ok" and first["epochs"] == 2
    # simulate a crash after the last checkpoint: the result says failed, the checkpoint is there
    record = read_json(tmp_path / "job" / "metrics.json")
    (tmp_path / "job" / "metrics.json").write_text(json.dumps({**record, "status": "failed"}))
    again = run_job(cfg, tmp_path / "job", quiet=True)
    assert again["status"] == "ok" and again["resumed_from"] == str(tmp_path / "job" / "checkpoints" / "last.ckpt")
    assert again["metrics"]["test"] == first["metrics"]["test"]  # nothing left to train: same weights
    # an explicit checkpoint continues a shorter run: 1 epoch, then ckpt_path into a 2-epoch run
    short = run_job(_cfg("trainer.max_epochs=1"), tmp_path / "short", quiet=True)
    longer = run_job(_cfg("trainer.max_epochs=2", f"ckpt_path={tmp_path / 'short' / 'checkpoints' / 'last.ckpt'}"),
                     tmp_path / "longer", quiet=True)
    assert short["epochs"] == 1 and longer["status"] == "ok" and longer["epochs"] == 2
    (log,) = (tmp_path / "longer" / "logs").glob("resumed-*/metrics.csv")
    with open(log) as f:
        trained = {row["epoch"] for row in csv.DictReader(f) if row["train/acc"]}
    assert trained == {"1"}  # epoch 0 came from the checkpoint; only epoch index 1 was trained here


def test_a_failing_job_writes_a_failed_result(tmp_path):
    record = run_job(_cfg("optim.lr=-1.0"), tmp_path / "bad", quiet=True)  # torch refuses a negative lr
    assert record["status"] == "failed" and "learning rate" in record["error"]["message"].lower()
    assert read_json(tmp_path / "bad" / "metrics.json")["status"] == "failed"


def test_killed_mid_training_resumes_from_the_last_epoch(tmp_path):
    """A job that dies in epoch 2 leaves checkpoints/last.ckpt of epoch 1; re-running continues from it."""
    from se_variants import SQUEEZE, Descriptor
    from se_variants.squeeze import Squeeze

    calls = {"n": 0, "fail_after": 6}  # epoch 0: 2 batches (limit_train_batches) × 3 blocks (depth 8)

    class DiesOnce(Squeeze):
        """Average pooling that raises on its 7th training call (epoch 1), once. Shapes: (N, C, H, W) → (N, 1, C, 1, 1)."""

        def __init__(self, channels: int):
            super().__init__(channels)
            self.descriptor = Descriptor(channels, 1, ("c",))

        def forward(self, x):
            if self.training and torch.is_grad_enabled():
                calls["n"] += 1
                if calls["n"] == calls["fail_after"] + 1:
                    raise RuntimeError("killed")
            return x.mean((2, 3), keepdim=True).unsqueeze(1)

    SQUEEZE.register("dies_once")(DiesOnce)
    try:
        cfg = {**_cfg("trainer.max_epochs=3"), "squeeze": {"name": "dies_once"}}
        first = run_job(cfg, tmp_path / "job", quiet=True)
        assert first["status"] == "failed" and first["error"]["message"] == "killed"
        assert (tmp_path / "job" / "checkpoints" / "last.ckpt").is_file()
        again = run_job(cfg, tmp_path / "job", quiet=True)
        assert again["status"] == "ok" and again["epochs"] == 3
        assert again["resumed_from"] == str(tmp_path / "job" / "checkpoints" / "last.ckpt")
        assert (tmp_path / "job" / "logs" / "metrics.csv").is_file()  # the first attempt's log is kept
    finally:
        SQUEEZE.unregister("dies_once")
