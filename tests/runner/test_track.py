"""Experiment trackers (trainer.loggers=[...,mlflow] / [...,wandb]), read back through their own APIs.

* first use: a fresh embedded store under the default launcher, ``processes``, and two commands at once -- every
  job ok, one FINISHED run per job, artifacts beside the store, nothing written outside the output root, no
  library lines on the console;
* one run per job with its identity as params, every epoch's metrics once (a killed job resumed with changed run
  knobs continues its run without a duplicate point), final metrics equal to metrics.json, its files as
  artifacts; the report as artifacts at the sweep's end; ``rerun=true`` against another store;
* an outage mid-sweep costs tracker logging, never training; the lost writes are named and replayed by the next
  run of the command;
* W&B offline: one run folder per job, even after a kill, and a ``wandb sync`` hint that names them;
* no secret of a tracking URI or a study's storage reaches the console or a file.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import run_cli, run_here, start_cli

pytestmark = pytest.mark.slow

TINY = ["imports=[sv_test_ops]", "squeeze=fault", "trainer.max_epochs=3", "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2", "trainer.limit_test_batches=2"]
ONE = [*TINY, "checkpoint_every_s=0", "hydra/launcher=basic"]
SMOKE_ARGS = ["trainer=smoke"]
#: what identifies a job in a tracker (never the whole config: no run knob)
IDENTITY = {"block", "squeeze", "excite", "gate", "seed", "config_hash", "variant_hash"}
#: lines of the tracker libraries that must not reach the console
NOISE = ("INFO", "mlflow.store", "alembic", "Creating it", "View run", "View experiment", "wandb:")


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")}


def _runs(store: str, sweep: Path) -> dict:
    """run name → run, in the experiment of ``sweep`` (named by its resolved path)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(str(sweep.resolve()))
    assert experiment is not None, [e.name for e in client.search_experiments()]
    return {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}


def _check_runs(store: str, sweep: Path, epochs: int = 3) -> dict:
    """Every job of ``sweep`` has one FINISHED run: identity params, each epoch's val/acc once (step: the epoch),
    final metrics equal to metrics.json, metrics.json and config.yaml as artifacts."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store)
    runs = _runs(store, sweep)
    records = _records(sweep)
    assert set(records) <= set(runs), sorted(runs)
    for name, record in records.items():
        run = runs[name]
        assert run.info.status == "FINISHED" and set(run.data.params) == IDENTITY, (name, run.data.params)
        assert run.data.params["config_hash"] == record["config_hash"]
        assert run.data.params["seed"] == str(record["seed"])
        for stage in ("train", "val", "test"):
            assert run.data.metrics[f"final/{stage}/acc"] == pytest.approx(record["metrics"][stage]["acc"], abs=1e-7)
        history = client.get_metric_history(run.info.run_id, "val/acc")
        assert sorted(m.step for m in history) == list(range(epochs)), f"{name}: {len(history)} points"
        assert [round(m.value, 7) for m in sorted(history, key=lambda m: m.step)] == \
            [round(h["val/acc"], 7) for h in record["history"]]
        assert {"metrics.json", "config.yaml"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
        state = json.loads((sweep / name / "trackers.json").read_text())["mlflow"]
        assert state["run"] == run.info.run_id and state["synced"] is True
    return runs


def _quiet(proc, capfd=None) -> None:
    """No library's line in a command's output, nor (``capfd``: a command run in this process) in what reached this
    process's own descriptors (its workers' output, a library's logging)."""
    for line in (proc.stdout + proc.stderr + ("".join(capfd.readouterr()) if capfd else "")).splitlines():
        assert not any(noise in line for noise in NOISE), f"a library's line on the console: {line!r}"


def _written_outside(cwd: Path, root: str = "outputs") -> list[str]:
    return sorted(str(p.relative_to(cwd)) for p in cwd.iterdir() if p.name != root)


# ------------------------------------------------------------------------------------------------- first use


@pytest.mark.parametrize("launcher", ["workers", "processes"])
def test_mlflow_on_a_fresh_store_works_on_first_use(launcher, tmp_path, user_ops, capfd):
    """The default launcher (2 workers) and ``processes`` on a fresh embedded store: the command makes the store
    once before its workers start (they used to race to create and migrate it, failing every job). (The command in
    this process: nothing signals it; its workers and jobs are processes of their own.)"""
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    if launcher == "processes":
        pytest.importorskip("submitit", reason="hydra/launcher=processes needs the cluster extra")
    args = ["train", "-m", *TINY, "seed=0,1", "trainer.loggers=[csv,mlflow]", f"hydra/launcher={launcher}",
            "hydra.launcher.n_jobs=2", "hydra.sweep.dir=outputs/sweep"]
    proc = run_here(args, user_ops, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    runs = _check_runs(store, tmp_path / "outputs" / "sweep")
    assert len(runs) == 3 and "sweep report" in runs  # the 2 jobs (2 workers at once) and the report
    for run in runs.values():  # artifacts beside the store, never ./mlruns
        assert run.info.artifact_uri.startswith((tmp_path / "outputs" / "mlflow-artifacts").as_uri())
    assert not list(tmp_path.rglob("mlruns")) and _written_outside(tmp_path) == []
    _quiet(proc, capfd)


def test_two_commands_at_once_on_a_fresh_store(tmp_path, user_ops):
    """Two commands started at once on the default launcher (a worker each), one fresh store: every job ok, one
    finished run per job and one for each report, nothing written outside the output root."""
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    common = ["train", "-m", *TINY, "trainer.loggers=[mlflow]", "hydra.launcher.n_jobs=1"]
    procs = [start_cli([*common, seeds, f"hydra.sweep.dir=outputs/{name}"], cwd=tmp_path, pythonpath=[user_ops])
             for name, seeds in (("a", "seed=0,1"), ("b", "seed=2,3"))]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    store = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    for name in ("a", "b"):
        assert len(_check_runs(store, tmp_path / "outputs" / name)) == 3
    assert _written_outside(tmp_path) == []


# ------------------------------------------------------------------------------------------------- runs


def test_a_killed_job_resumed_with_changed_knobs_continues_its_run_once(tmp_path, user_ops):
    """Killed in its second epoch with no checkpoint yet (checkpoint_every_s=3600), the job restarts from scratch:
    its first epoch is trained again but logged once (3 points for 3 epochs, not 4). Resumed with another
    checkpoint_every_s and one more seed (run knobs: they were params, and MLflow refused the changed value)."""
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train", "-m", *TINY, "hydra/launcher=basic", "trainer.loggers=[csv,mlflow]",
            f"logger.mlflow.tracking_uri={store}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    # 27 training calls a job (3 epochs × 3 batches × 3 blocks): the kill lands in the second job's second epoch
    killed = run_cli([*args, "seed=0,1", "checkpoint_every_s=3600"], cwd=tmp_path, env={"SV_KILL_AT": str(27 + 9 + 4)},
                     pythonpath=[user_ops])
    assert killed.returncode == -signal.SIGKILL
    done = run_here([*args, "seed=0,1,2", "checkpoint_every_s=0"], user_ops, cwd=tmp_path)  # (here: nothing kills it)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 done before (skipped)" in done.stdout  # the skipped job created no second run
    runs = _check_runs(store, tmp_path / "sweep")
    assert len(runs) == 4  # one run per job (the killed one continued) and the report
    assert sum(len(r["attempts"]) == 2 for r in _records(tmp_path / "sweep").values()) == 1
    report = runs["sweep report"]
    assert report.data.tags["se_variants.folder"] == str((tmp_path / "sweep").resolve())
    _quiet(done)
    # rerun=true against another store: new runs there, tagged, the first store untouched
    other = f"sqlite:///{tmp_path / 'other.db'}"
    rerun = run_here([*args, "seed=0,1,2", "rerun=true", f"logger.mlflow.tracking_uri={other}"], user_ops,
                     cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    reruns = _check_runs(other, tmp_path / "sweep")
    assert all(r.data.tags.get("se_variants.rerun") == "true" for n, r in reruns.items() if n != "sweep report")
    assert len(_runs(store, tmp_path / "sweep")) == 4


LOCK_MODULE = '''
"""Squeeze ``locks_store``: average pooling that, at this process's SV_LOCK_AT-th training call, takes an exclusive
lock on the SQLite file SV_LOCK_DB and keeps it until the process ends: the tracking store goes away mid-job."""
import os
import sqlite3

import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze

CALLS, HELD = [0], []


@SQUEEZE.register("locks_store")
class LocksStore(Squeeze):
    """Average pooling that locks the tracking store on request (tests only). (N, C, H, W) -> (N, 1, C, 1, 1)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.descriptor = Descriptor(channels, 1, ("c",))

    def forward(self, x):
        if torch.is_grad_enabled() and self.training:
            CALLS[0] += 1
            if CALLS[0] == int(os.environ["SV_LOCK_AT"]):
                db = sqlite3.connect(os.environ["SV_LOCK_DB"], isolation_level=None)
                db.execute("BEGIN EXCLUSIVE")
                HELD.append(db)
        return x.mean((2, 3), keepdim=True).unsqueeze(1)
'''


def test_an_outage_costs_tracker_logging_never_training_and_the_next_run_replays_it(tmp_path):
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "sv_lock_ops.py").write_text(LOCK_MODULE)
    db = tmp_path / "mlflow.db"
    args = ["train", "-m", "imports=[sv_lock_ops]", "squeeze=locks_store", *TINY[2:], "checkpoint_every_s=0",
            "hydra/launcher=basic", "seed=0,1,2", "trainer.loggers=[mlflow]",
            f"logger.mlflow.tracking_uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    # the second job's second epoch: the store is locked for the rest of the command
    proc = run_cli(args, cwd=tmp_path, env={"SV_LOCK_AT": str(27 + 9 + 4), "SV_LOCK_DB": str(db)},
                   pythonpath=[tmp_path / "ops"])
    assert proc.returncode == 0, proc.stderr[-3000:]  # every job trained and tested
    records = _records(tmp_path / "sweep")
    assert len(records) == 3 and all(r["status"] == "ok" for r in records.values())
    lost = {r["seed"]: json.loads((tmp_path / "sweep" / n / "trackers.json").read_text())["mlflow"]
            for n, r in records.items()}
    assert lost[0]["synced"] and not lost[1]["synced"] and not lost[2]["synced"], lost
    assert "epoch log(s)" in lost[1]["lost"] and "locked" in lost[1]["lost"]  # mid-job: its later writes dropped
    assert "it was down" in lost[2]["lost"]  # the next job did not wait for the store again
    assert "2 tracker run(s) lost writes" in proc.stderr, proc.stderr[-2000:]
    report = next(line for line in proc.stderr.splitlines() if "the report did not reach MLflow" in line)
    assert "it was down" in report, report  # nor did the report wait for the store again
    # the store is back: the next run of the command trains nothing and completes the run from metrics.json
    again = run_here(args, tmp_path / "ops", cwd=tmp_path)  # (here: nothing stops it)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[sync]" in again.stdout and "lost writes" not in again.stderr
    _check_runs(f"sqlite:///{db}", tmp_path / "sweep")


# ------------------------------------------------------------------------------------------------- W&B


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


def test_wandb_offline_one_run_folder_per_job_even_after_a_kill(tmp_path, user_ops):
    pytest.importorskip("wandb", reason="trainer.loggers=[wandb] needs the track extra")
    secret = "PLANTED-SECRET-3"  # in the command line (W&B keeps it in a run's metadata): an option W&B does not use
    args = ["train", "-m", *ONE, "seed=0,1", "trainer.loggers=[wandb]", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"logger.mlflow.tracking_uri=http://user:{secret}@mlflow.lab:5000"]
    env = {"WANDB_MODE": "offline"}
    killed = run_cli(args, cwd=tmp_path, env={**env, "SV_KILL_AT": str(27 + 9 + 4)}, pythonpath=[user_ops])
    assert killed.returncode == -signal.SIGKILL
    proc = run_cli(args, cwd=tmp_path, env=env, pythonpath=[user_ops])
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = []
    for name, record in _records(tmp_path / "sweep").items():
        run_id = json.loads((tmp_path / "sweep" / name / "trackers.json").read_text())["wandb"]["run"]
        (run,) = (tmp_path / "sweep" / name / "wandb").glob("offline-run-*")  # one folder, the killed job's too
        assert run.name.endswith(run_id)
        folders.append(run)
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
    hint = next(line for line in proc.stdout.splitlines() if "wandb sync" in line)
    assert all(str(folder) in hint for folder in folders), hint
    _quiet(proc)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# ------------------------------------------------------------------------------------------------- secrets


def test_no_secret_reaches_the_console_or_a_file(tmp_path, user_ops, capfd):
    """A token in the tracking URI and a password in the study's storage, given on the command line and through
    the environment: the jobs use them, and neither appears on the console or in any file under the working
    directory (the output root, the stores, the checkpoints, the reports, submitit's job files)."""
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    pytest.importorskip("optuna", reason="hydra/sweeper=optuna needs the search extra")
    pytest.importorskip("submitit", reason="hydra/launcher=processes needs the cluster extra")
    secret, from_env = "PLANTED-SECRET-1", "PLANTED-SECRET-2"
    env = {"SV_TRACKING": f"sqlite:///{tmp_path / 'env.db'}?token={from_env}",
           "SV_STORAGE": f"sqlite:///{tmp_path / 'study-env.db'}?password={from_env}"}
    direct = f"sqlite:///{tmp_path / 'mlflow.db'}?token={secret}"
    console = []
    for tracking, storage, launcher in (
            # (the sweep under processes: submitit writes its jobs to files)
            (f"'{direct}'", f"'sqlite:///{tmp_path / 'study.db'}?password={secret}'", "processes"),
            ("${oc.env:SV_TRACKING}", "${oc.env:SV_STORAGE}", "basic")):
        common = [*TINY, "checkpoint_every_s=0", "trainer.loggers=[csv,mlflow]",
                  f"logger.mlflow.tracking_uri={tracking}"]
        # (here: the commands are not signalled; the processes launcher's jobs still get files of their own)
        sweep = run_here(["train", "-m", *common, f"hydra/launcher={launcher}", "seed=0",
                          "hydra.sweep.dir=outputs/sweep"], user_ops, env=env, cwd=tmp_path)
        confirm = ["--confirm", "3"] if "oc.env" not in storage else []  # (once: it trains 6 jobs)
        search = run_here(["train", "-m", *common, "hydra/launcher=basic", "hydra/sweeper=optuna", "seed=choice(0,1)",
                           "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}",
                           "hydra.sweeper.sampler.seed=0", "hydra.sweep.dir=outputs/search", *confirm],
                          user_ops, env=env, cwd=tmp_path)
        assert sweep.returncode == 0 and search.returncode == 0, (sweep.stderr + search.stderr)[-3000:]
        console += [p.stdout + p.stderr for p in (sweep, search)]
    unreachable = run_here(["train", *SMOKE_ARGS, "trainer.loggers=[mlflow]",
                            f"logger.mlflow.tracking_uri=http://user:{secret}@127.0.0.1:1", "--dry-run"],
                           env=env, cwd=tmp_path)
    assert unreachable.returncode == 2 and "user:***@127.0.0.1" in unreachable.stderr, unreachable.stderr
    console.append(unreachable.stdout + unreachable.stderr)
    console.append("".join(capfd.readouterr()))  # what reached the process's own descriptors (a library's logging)
    for text in console:
        assert secret not in text and from_env not in text
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file()
             and (secret.encode() in p.read_bytes() or from_env.encode() in p.read_bytes())]
    assert not leaks, leaks
    # the jobs logged to the stores the secrets are part of, and the confirmation beside its search
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=direct)
    search = client.get_experiment_by_name(str(tmp_path / "outputs" / "search"))
    confirm = client.search_runs([search.experiment_id], "tags.`se_variants.subfolder` = 'confirm'")
    assert len(confirm) == 6 and all(r.info.status == "FINISHED" for r in confirm)
    # the second sweep trained nothing: its finished jobs were logged to the store it names, from their records
    assert len(_runs(env["SV_TRACKING"], tmp_path / "outputs" / "sweep")) == 1

