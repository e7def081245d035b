"""One job on several devices: trainer=ddp_cpu trains in 2 processes (gloo); every validation and test sample is
counted exactly once; the launching process writes metrics.json once and records the world size."""

from __future__ import annotations

import os

import pytest

from se_variants.runner.configs import compose
from se_variants.runner.job import run_job
from se_variants.runner.validate import check_config


pytestmark = pytest.mark.slow


def test_ddp_on_two_cpu_processes_counts_every_sample_once(tmp_path):
    """2 epochs of all 1077 training images on 2 ranks (539 + 538: one rank takes a padding item, which neither
    the loss nor the metrics count)."""
    cfg = check_config(compose(["trainer=ddp_cpu", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
                                "checkpoint_every_s=0"]))
    record = run_job(cfg, tmp_path / "job")
    assert record["status"] == "ok", record["error"]
    assert record["world_size"] == 2 and record["epochs"] == 2
    sizes = record["data"]["sizes"]
    assert record["metrics"]["val"]["n"] == sizes["val"] == 270  # 135 per rank, no padding
    assert record["metrics"]["test"]["n"] == sizes["test"] == 450  # tested in one process
    assert sum(record["per_class"]["test"]["support"]) == 450
    assert record["metrics"]["train"]["n"] == sizes["train"] == 1077  # every sample once, the padding item not
    assert [a["pid"] for a in record["attempts"]] == [os.getpid()]  # written by the launching process
    assert len(record["history"]) == 2 and all(h["val/n"] == 270 for h in record["history"])
