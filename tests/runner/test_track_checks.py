"""Trackers before anything trains: the LOGGER registry's options (typed, "did you mean", in ``se-variants list``
and in configs/logger/default.yaml), the preflight of an MLflow store -- unreachable, not MLflow's scheme,
corrupt, locked, half-migrated, of another MLflow version, read-only -- in the dry run as in the real run, the
experiment of each sweep folder, and the redaction of credentials in URLs."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest
import yaml

from se_variants.cli import main as cli_main
from se_variants.registry import describe_type
from se_variants.runner import mlflow_store
from se_variants.runner.args import parse_args
from se_variants.runner.commands import train_main
from se_variants.runner.configs import CONFIG_DIR
from se_variants.runner.plan import open_planner
from se_variants.runner.redact import join_secrets, redact, redact_values, split_secrets
from se_variants.runner.trackers import LOGGER

SMOKE = ["trainer=smoke"]


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(argv: list[str], capsys, *expected: str) -> str:
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, f"{text!r} not in: {err}"
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("argv,expected", [
    (["logger.mlflow.tracking_urii=x"], ["tracking_urii", "Did you mean 'tracking_uri'"]),
    (["logger.wandb.mode=bogus"], ["logger.wandb", "'bogus'", "'online' | 'offline' | 'disabled'"]),
    (["logger.wandb.tags=3"], ["logger.wandb", "tags", "list of str"]),
    (["trainer.loggers=[mlfow]"], ["trainer.loggers", "Did you mean 'mlflow'"]),
    (["+logger.mlfow.tracking_uri=x"], ["logger.mlfow", "Did you mean 'mlflow'"]),
])
@pytest.mark.slow
def test_a_misspelt_logger_option_stops_the_command_before_anything_runs(argv, expected, dry, capsys, cwd):
    _refused([*SMOKE, *argv, *(["--dry-run"] if dry else [])], capsys, *expected)
    assert not any(cwd.iterdir()), "nothing is created"


def test_a_bad_wandb_mode_from_the_environment_is_refused(capsys, cwd, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "ofline")
    _refused([*SMOKE, "trainer.loggers=[wandb]", "--dry-run"], capsys, "WANDB_MODE", "'ofline'", "offline")


def test_wandb_online_without_a_login_is_refused(capsys, cwd, monkeypatch):
    pytest.importorskip("wandb", reason="trainer.loggers=[wandb] needs the track extra")
    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(cwd))  # no ~/.netrc
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(cwd / "wandb-config"))
    _refused([*SMOKE, "trainer.loggers=[wandb]", "--dry-run"], capsys, "W&B online needs a login", "wandb login",
             "logger.wandb.mode=offline")


def test_se_variants_list_shows_the_loggers_and_their_options(capsys):
    assert cli_main(["list", "logger"]) == 0
    entries: dict[str, str] = {}  # name → its description and options, joined (list wraps them on lines of their own)
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("logger"):
            name = line.split()[1]
            entries[name] = line
        else:
            entries[name] += " " + line.strip()
    assert list(entries) == ["csv", "tensorboard", "mlflow", "wandb"]
    assert "tracking_uri=null (str | None)" in entries["mlflow"] and "experiment_name=null" in entries["mlflow"]
    assert "mode=null ('online' | 'offline' | 'disabled' | None)" in entries["wandb"]


def test_the_logger_config_lists_every_logger_with_its_options_and_defaults():
    node = yaml.safe_load((CONFIG_DIR / "logger" / "default.yaml").read_text())
    assert list(node) == LOGGER.names()

    def plain(value):
        return list(value) if isinstance(value, tuple) else dict(value) if hasattr(value, "keys") else value

    for name in LOGGER.names():
        entry = LOGGER.entry(name)
        assert {k: plain(v) for k, v in entry.default_options().items()} == (node[name] or {}), name
        for tp in entry.option_types().values():
            assert describe_type(tp)  # every option is typed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store_args(uri: str) -> list[str]:
    return [*SMOKE, "trainer.loggers=[csv,mlflow]", f"logger.mlflow.tracking_uri={uri}"]


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
@pytest.mark.slow
def test_an_unreachable_tracking_server_is_refused_in_the_preflight(dry, capsys, cwd):
    uri = f"http://user:SECRET@127.0.0.1:{_closed_port()}"
    err = _refused([*_store_args(uri), *(["--dry-run"] if dry else [])], capsys, "does not answer",
                   "Start the tracking server", "http://user:***@127.0.0.1")
    assert "SECRET" not in err
    assert not any(cwd.iterdir()), "nothing trained or created"


def test_a_uri_mlflow_does_not_serve_is_refused(capsys, cwd):
    _refused([*_store_args("bogus://x"), "--dry-run"], capsys, "'bogus://x' is not a tracking URI MLflow serves",
             "sqlite://", "http://")


def test_a_corrupt_store_is_named_with_the_fix(capsys, cwd):
    store = cwd / "mlflow.db"
    store.write_bytes(b"this is not a database, but the store's file name" * 100)
    _refused([*_store_args(f"sqlite:///{store}"), "--dry-run"], capsys, "is not an SQLite database",
             f"mv {store} {store}.broken")
    assert store.read_bytes().startswith(b"this is not"), "the dry run changes nothing"


def test_a_store_locked_by_another_process_is_named(capsys, cwd, monkeypatch):
    monkeypatch.setattr(mlflow_store, "PATIENCE_S", 0.2)
    store = cwd / "mlflow.db"
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("CREATE TABLE held (x)")
    holder.execute("BEGIN EXCLUSIVE")  # held until the test ends, as an `mlflow ui` mid-write or a stuck process
    try:
        _refused([*_store_args(f"sqlite:///{store}"), "--dry-run"], capsys, "is locked by another process")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _mlflow_like_store(path: Path, version: str, leftover: bool) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT)")
    db.execute("CREATE TABLE alembic_version (version_num TEXT)")
    db.execute("INSERT INTO alembic_version VALUES (?)", (version,))
    if leftover:  # what the old race left: a migration's temporary table
        db.execute("CREATE TABLE _alembic_tmp_tags (key TEXT)")
    db.commit()
    db.close()


@pytest.mark.slow
def test_a_half_migrated_store_and_one_of_another_mlflow_are_named_with_the_fix(capsys, cwd):
    pytest.importorskip("mlflow", reason="trainer.loggers=[mlflow] needs the track extra")
    half, old = cwd / "half.db", cwd / "old.db"
    _mlflow_like_store(half, "4465047574b1", leftover=True)
    _mlflow_like_store(old, "0a8213491aaa", leftover=False)  # MLflow 1.x's first schema
    _refused([*_store_args(f"sqlite:///{half}"), "--dry-run"], capsys, "half-migrated", "_alembic_tmp_tags",
             f"mv {half} {half}.broken")
    _refused([*_store_args(f"sqlite:///{old}"), "--dry-run"], capsys, "schema version 0a8213491aaa",
             f"mlflow db upgrade sqlite:///{old}")
    other = cwd / "study.db"  # another program's database (an Optuna study's, say)
    sqlite3.connect(other).execute("CREATE TABLE studies (x)").connection.close()
    _refused([*_store_args(f"sqlite:///{other}"), "--dry-run"], capsys, "another program's database", "studies")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only files; the corrupt and locked cases "
                                              "above cover the check")
def test_a_read_only_store_is_named(capsys, cwd):
    store = cwd / "mlflow.db"
    sqlite3.connect(store).execute("CREATE TABLE t (x)").connection.close()
    store.chmod(0o444)
    _refused([*_store_args(f"sqlite:///{store}"), "--dry-run"], capsys, "is read-only")


def _experiments(argv: list[str]) -> dict[Path, str]:
    planner = open_planner(parse_args(["-m", *argv]))
    try:
        plan = planner.grid()
        confirm = planner.jobs([plan.jobs[0].overrides], [plan.out_dir / "confirm" / "job"])
    finally:
        planner.close()
    return {job.folder: job.config["logger"]["mlflow"]["experiment_name"] for job in [*plan.jobs, *confirm]}


def test_one_experiment_per_sweep_folder_path_and_confirmations_beside_their_search(cwd):
    args = [*SMOKE, "trainer.loggers=[mlflow]", "seed=0,1"]
    a = _experiments([*args, "hydra.sweep.dir=a/sw"])
    b = _experiments([*args, "hydra.sweep.dir=b/sw"])
    assert set(a.values()) == {str(cwd / "a" / "sw")} and set(b.values()) == {str(cwd / "b" / "sw")}
    assert a[Path("a/sw/confirm/job")] == str(cwd / "a" / "sw"), "a confirmation joins its search"


@pytest.mark.parametrize("text,shown", [
    ("postgresql://user:PASSWORD@host/db", "postgresql://user:***@host/db"),
    ("mysql+pymysql://root:s3cr%40t@db:3306/m", "mysql+pymysql://root:***@db:3306/m"),
    ("http://user:PASSWORD@host", "http://user:***@host"),
    ("error at http://u:p@ss@h:5000/api (refused)", "error at http://u:***@h:5000/api (refused)"),
    ("https://h/x?token=PASSWORD&n=1", "https://h/x?token=***&n=1"),
    ("s3://b/k?X-Amz-Signature=PASSWORD#f", "s3://b/k?X-Amz-Signature=***#f"),
    ("postgresql://h/db?password=PASSWORD", "postgresql://h/db?password=***"),
    ("sqlite:////home/me/outputs/mlflow.db", "sqlite:////home/me/outputs/mlflow.db"),
    ("http://host:8080/a@b", "http://host:8080/a@b"),
    ("http://user@host/", "http://user@host/"),
])
def test_credentials_in_urls_are_redacted(text, shown):
    assert redact(text) == shown


def test_redaction_walks_configs_and_command_lines():
    cfg = {"logger": {"mlflow": {"tracking_uri": "http://u:PASSWORD@h"}}, "argv": ["a", "x=http://u:PASSWORD@h"],
           "n": 3, "t": ("postgresql://u:PASSWORD@h/d",)}
    assert "PASSWORD" not in repr(redact_values(cfg)) and redact_values(cfg)["n"] == 3
    assert cfg["logger"]["mlflow"]["tracking_uri"] == "http://u:PASSWORD@h", "the job's own config keeps the URL"
    public, secrets = split_secrets(cfg)  # what a launcher writes to a file, and what travels in the environment
    assert "PASSWORD" not in repr(public) and join_secrets(public, secrets) == cfg


def test_a_tracker_logger_logs_each_epoch_once_and_stops_at_its_first_error():
    """What a job's MLflow / W&B logger does with Lightning's calls: an epoch its run already holds is dropped (a
    resumed job trains it again), MLflow's step is the epoch, the whole config never reaches it, and the first
    error of the tracker stops its writes (counted) instead of failing or stalling the job."""
    from lightning.pytorch.loggers import Logger

    from se_variants.runner.lit import TrackerLogger

    class Inner(Logger):
        name, version = "inner", "0"

        def __init__(self):
            super().__init__()
            self.calls, self.fail = [], False

        def log_hyperparams(self, params, *args, **kwargs):
            self.calls.append(("params", params))

        def log_metrics(self, metrics, step=None):
            if self.fail:
                raise ConnectionError("the server went away")
            self.calls.append((step, dict(metrics)))

    inner = Inner()
    logger = TrackerLogger(inner, {"val/acc": 1, "train/acc": 0}, epoch_steps=True)
    logger.log_hyperparams({"whole": "config"})
    logger.finalize("success")
    for epoch in range(3):
        logger.log_metrics({"val/acc": 0.5 + epoch, "epoch": epoch}, step=100 * epoch)
        logger.log_metrics({"train/acc": 0.1 + epoch, "epoch": epoch}, step=100 * epoch + 1)
    assert inner.calls == [(1, {"train/acc": 1.1}), (2, {"val/acc": 2.5}), (2, {"train/acc": 2.1})]
    inner.fail = True
    logger.log_metrics({"val/acc": 9.0, "epoch": 3})
    logger.log_metrics({"train/acc": 9.0, "epoch": 3})
    assert logger.lost == 2 and "went away" in logger.error and len(inner.calls) == 3
