"""One job on several devices: trainer=ddp_cpu trains in 2 processes (gloo); every validation and test sample is
counted exactly once; the launching process writes metrics.json once and records the world size."""

from __future__ import annotations

import os

from se_variants.runner.hydra_app import compose
from se_variants.runner.job import run_job
from se_variants.runner.validate import check_config


def test_ddp_on_two_cpu_processes_counts_every_sample_once(tmp_path):
    cfg = check_config(compose(["trainer=ddp_cpu", "trainer.max_epochs=2", "trainer.limit_train_batches=2",
                                "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]),
                       build=False)
    record = run_job(cfg, tmp_path / "job", quiet=True)
    assert record["status"] == "ok", record["error"]
    assert record["world_size"] == 2 and record["epochs"] == 2
    sizes = record["data"]["sizes"]
    assert record["metrics"]["val"]["n"] == sizes["val"] == 270  # 135 per rank, no padding
    assert record["metrics"]["test"]["n"] == sizes["test"] == 450  # tested in one process
    assert sum(record["per_class"]["test"]["support"]) == 450
    assert record["metrics"]["train"]["n"] == 2 * 2 * 128  # 2 ranks × 2 batches of 128
    assert [a["pid"] for a in record["attempts"]] == [os.getpid()]  # written by the launching process
    assert len(record["history"]) == 2 and all(h["val/n"] == 270 for h in record["history"])
