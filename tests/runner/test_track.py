"""Experiment trackers (trainer.loggers=[...,mlflow] / [...,wandb]), read back through their own APIs: one run
per job with its variant params, per-epoch metrics, final metrics equal to metrics.json and its files as
artifacts; the report as artifacts at the sweep's end; a killed and resumed job continues the same run; a skipped
job creates none; rerun=true starts a new one marked as such."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import brief, run_cli, run_here, tail

pytestmark = pytest.mark.slow

ONE = ["squeeze=fault", "imports=[sv_test_ops]", "trainer.max_epochs=3", "trainer.limit_train_batches=3",
       "trainer.limit_val_batches=2", "trainer.limit_test_batches=2", "checkpoint_every_s=0", "hydra/launcher=basic"]


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


def test_mlflow_gets_every_job_once_and_continues_a_killed_one(tmp_path, user_ops):
    """A sweep logging to MLflow (SQLite store) is killed in its second job, then run again: one MLflow run per
    job (the killed job continues its own), with the job's params, per-epoch history, final metrics equal to
    metrics.json and its files; the report as a run of its own; the skipped job creates none; rerun=true starts
    new runs, marked as re-runs."""
    mlflow = pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train", "-m", *ONE, "seed=0,1", "trainer.loggers=[csv,mlflow]", f"logger.mlflow.tracking_uri={store}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    # 27 training calls a job (3 epochs × 3 batches × 3 blocks): the kill lands in the second job's second epoch
    killed = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(27 + 9 + 4)}, pythonpath=[user_ops])
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, tail(killed.stderr))
    # the next runs in this process (nothing kills them): the first job is skipped, the second resumed
    done = run_here(args, user_ops, cwd=tmp_path)
    assert done.returncode == 0, tail(done.stderr)
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sweep")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    records = _records(tmp_path / "sweep")
    assert set(runs) == {*records, "sweep report"}, (sorted(runs), [brief(r) for r in records.values()])
    for name, record in records.items():  # one run per job (the killed one continued), and the report
        assert record["status"] == "ok", brief(record)
        run = runs[name]
        assert run.data.params["config_hash"] == record["config_hash"] and run.data.params["seed"] == str(record["seed"])
        assert run.data.params["squeeze"] == "fault" and run.info.status == "FINISHED"
        for stage in ("train", "val", "test"):
            assert run.data.metrics[f"final/{stage}/acc"] == pytest.approx(record["metrics"][stage]["acc"], abs=1e-7)
        history = client.get_metric_history(run.info.run_id, "val/acc")
        assert sorted({round(m.value, 7) for m in history}) == sorted({round(h["val/acc"], 7) for h in record["history"]})
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"metrics.json", "config.yaml"} <= artifacts
        assert json.loads((tmp_path / "sweep" / name / "trackers.json").read_text())["mlflow"] == run.info.run_id
    resumed = [r for r in records.values() if len(r["attempts"]) == 2]
    assert len(resumed) == 1, [brief(r) for r in records.values()]  # the killed job resumed into its own run
    assert "1 done before (skipped)" in done.stdout, done.stdout  # ... and the skipped job created none
    report = {a.path for a in client.list_artifacts(runs["sweep report"].info.run_id)}
    assert {"report.md", "report.csv"} <= report, report
    # rerun=true of one of the jobs (the same sweep folder and experiment)
    seed_0 = [a if not a.startswith("seed=") else "seed=0" for a in args]
    rerun = run_here([*seed_0, "rerun=true"], user_ops, cwd=tmp_path)
    assert rerun.returncode == 0, tail(rerun.stderr, 2000)
    reruns = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("se_variants.rerun")]
    assert len(reruns) == 1 and reruns[0].info.status == "FINISHED", [r.info for r in reruns]
    assert reruns[0].data.params["seed"] == "0", reruns[0].data.params


def _wandb_records(path: Path) -> list:
    """The records of an offline W&B run file (``run-<id>.wandb``): a 7-byte header, then a log of blocks of 32 KiB
    holding records with a 7-byte header each (checksum, little-endian length, kind: 1 whole, 2 first, 3 middle,
    4 last part), each record a protobuf ``Record`` of wandb's own schema."""
    from wandb.proto import wandb_internal_pb2

    raw = path.read_bytes()
    assert raw[:4] == b":W&B"
    records, parts, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4:pos + 6], "little"), raw[pos + 6]
        data, pos = raw[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0 and length == 0:
            break
        parts = data if kind in (1, 2) else parts + data
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            records.append(record)
    return records


def test_wandb_offline_runs_are_grouped_by_sweep(tmp_path, user_ops):
    pytest.importorskip("wandb", reason="trainer.loggers=[wandb] needs the track extra")
    args = ["train", "-m", *ONE, "seed=0,1", "trainer.loggers=[wandb]", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = run_cli(args, cwd=tmp_path, env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"}, pythonpath=[user_ops])
    assert proc.returncode == 0, tail(proc.stderr)
    assert "trackers did not get" not in proc.stderr, tail(proc.stderr, 2000)
    records = _records(tmp_path / "sweep")
    assert len(records) == 2 and all(r["status"] == "ok" for r in records.values()), \
        [brief(r) for r in records.values()]
    for name, record in records.items():
        run_id = json.loads((tmp_path / "sweep" / name / "trackers.json").read_text())["wandb"]
        (run,) = (tmp_path / "sweep" / name / "wandb").glob(f"offline-run-*-{run_id}")
        records = _wandb_records(run / f"run-{run_id}.wandb")
        runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert runs and runs[0].run_id == run_id and runs[0].run_group == "sweep" and runs[0].display_name == name
        def key(item) -> str:  # newer wandb writes keys with slashes as nested_key
            return item.key or "/".join(item.nested_key)

        summary = {key(item): json.loads(item.value_json) for r in records
                   if r.WhichOneof("record_type") == "summary" for item in r.summary.update}
        for stage in ("train", "val", "test"):
            assert summary[f"final/{stage}/acc"] == pytest.approx(record["metrics"][stage]["acc"], abs=1e-7)
        history = [{key(i): json.loads(i.value_json) for i in r.history.item} for r in records
                   if r.WhichOneof("record_type") == "history"]
        assert [round(h["val/acc"], 7) for h in history if "val/acc" in h] == \
            [round(h["val/acc"], 7) for h in record["history"]]
        assert (run / "files" / "metrics.json").is_file() and (run / "files" / "config.yaml").is_file()
