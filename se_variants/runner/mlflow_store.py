"""Where MLflow runs go: the tracking store of ``logger.mlflow.tracking_uri``, checked before anything trains and
made ready once, before any job logs to it.

* :func:`check` (the preflight, also in a dry run; creates nothing): the URI's scheme is one MLflow serves; a
  server answers within seconds (MLflow's own client, with its retries turned off); a database store's file or
  server can be opened, is not corrupt, not locked by another process, can be written, and has the schema this
  MLflow expects -- a store made by an older MLflow, or left half-migrated, is named with the fix.
* :func:`prepare` (the command, before its workers start; a job again, for searches): a fresh database store is
  created and migrated, and the experiment made, once, under a file lock beside a SQLite store that every command
  and job takes -- two commands started at once on a fresh store make it once. A database store keeps its runs'
  artifacts beside it (``<store folder>/mlflow-artifacts/<experiment id>/``), never in ``./mlruns`` of the working
  directory.
* :func:`quiet_mlflow`: MLflow's and alembic's INFO lines ("Creating initial MLflow database tables", "Updating
  database tables", "Running upgrade ...") kept off the console, and MLflow's "View run ... at <URL>" never
  printed; a job's tracker messages go to its ``trackers.log`` (:mod:`.trackers`).

Every message about a store shows its URI with the credentials redacted (:mod:`.redact`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .files import locked, sqlite_file, unwritable
from .redact import redact

__all__ = ["StoreProblem", "check", "prepare", "quiet_mlflow", "default_uri", "client_settings",
           "SCHEMES", "ARTIFACTS", "DEFAULT_STORE"]

#: the embedded store, relative to the folder a command runs in
DEFAULT_STORE = Path("outputs") / "mlflow.db"
#: the folder beside a database store that holds its runs' artifacts
ARTIFACTS = "mlflow-artifacts"
#: the tracking URI schemes MLflow serves (a ``+driver`` suffix is allowed on the database ones)
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
#: seconds the preflight waits for a server or a lock
PATIENCE_S = 5
#: MLflow's HTTP settings in a job, unless the environment sets them: a server that is down costs one request of
#: at most a few seconds, not MLflow's default of 7 retries of up to 120 s each
CLIENT_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
#: the loggers of MLflow and of the migrations it runs
LOGGERS = ("mlflow", "alembic")


class StoreProblem(ValueError):
    """A tracking store that cannot take this command's runs; the message names it (redacted) and the fix."""


def default_uri() -> str:
    """The embedded store of the folder a command runs in: ``sqlite:///<cwd>/outputs/mlflow.db``."""
    return "sqlite:///" + str(DEFAULT_STORE.resolve())


def scheme_of(uri: str) -> str:
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""


def client_settings() -> None:
    """Bound MLflow's HTTP retries and time-outs in this process (a job's), unless the environment sets them."""
    for key, value in CLIENT_SETTINGS.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's and alembic's INFO lines off the console while this runs (warnings and errors still show)."""
    import mlflow  # noqa: F401  (importing it sets its loggers' levels: set ours after; an optional library)

    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# ------------------------------------------------------------------------------------------------- check


def _problem(uri: str, what: str, fix: str) -> StoreProblem:
    return StoreProblem(f"logger.mlflow.tracking_uri: the MLflow store {redact(uri)} {what}. {fix}")


def check(uri: str) -> None:
    """The preflight of a tracking store (see the module doc); raises :class:`StoreProblem`. Creates nothing."""
    scheme = scheme_of(uri)
    if scheme not in SCHEMES:
        raise StoreProblem(f"logger.mlflow.tracking_uri: {redact(uri)!r} is not a tracking URI MLflow serves (its "
                           f"scheme {scheme + '://' if scheme else '(none)'} is not one of "
                           f"{', '.join(s + '://' for s in SCHEMES)}). Give e.g. sqlite:///outputs/mlflow.db, "
                           f"http://host:5000, or leave it null for the embedded store outputs/mlflow.db.")
    if scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in DATABASES:
        _check_database(uri)
    elif scheme in ("http", "https"):
        _check_server(uri)


def _check_sqlite(uri: str) -> None:
    path = sqlite_file(uri)
    if path is None:
        raise _problem(uri, "is in memory, so no job could log to it", "Give a file: sqlite:///<folder>/mlflow.db.")
    if not path.exists():
        why = unwritable(path.parent)
        if why:
            raise _problem(uri, f"cannot be created: its folder {path.parent} {why}",
                           "Choose a writable folder, or leave logger.mlflow.tracking_uri null (outputs/mlflow.db).")
        return
    if not path.is_file():
        raise _problem(uri, f"is not a file ({path})", "Move it away, or give another file.")
    for target, what in ((path, "file"), (path.parent, "folder")):
        if not os.access(target, os.R_OK | os.W_OK | (os.X_OK if target.is_dir() else 0)):
            raise _problem(uri, f"is read-only (its {what} {target} cannot be written; SQLite also writes a journal "
                                f"beside the file)", "Make both writable, or give another store.")
    try:
        connection = _read_only(path)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = connection.execute("SELECT version_num FROM alembic_version").fetchall() \
                if "alembic_version" in tables else []
        finally:
            connection.close()
        _check_writer(path)
    except sqlite3.OperationalError as err:
        if "locked" in str(err):
            raise _problem(uri, f"is locked by another process (still after {PATIENCE_S} s)",
                           "Wait for that process (an `mlflow ui`, another command's migration), or stop it.") from None
        raise _problem(uri, f"cannot be read ({err})", "Move it away; a fresh store is made on the next run.") from None
    except sqlite3.DatabaseError as err:
        raise _problem(uri, f"is not an SQLite database ({err}): it is corrupt or another kind of file",
                       f"Move it away (mv {path} {path}.broken); a fresh store is made on the next run.") from None
    _check_schema(uri, tables, [row[0] for row in version])


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file (a dry run leaves no trace)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=PATIENCE_S)


def _check_writer(path: Path) -> None:
    """Take the store's write lock for a moment: another process holding it for longer than the preflight waits
    would make every job's writes fail. Writes nothing."""
    connection = sqlite3.connect(str(path), timeout=PATIENCE_S, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _check_schema(uri: str, tables: set[str], versions: list[str]) -> None:
    """A store with MLflow's tables must be at the schema this MLflow expects: name a store of an older MLflow, and
    one an interrupted migration left half-way, with the fix."""
    if not tables - {"alembic_version"}:
        return  # an empty database: prepare() makes the tables
    from mlflow.store.db.utils import _get_latest_schema_revision  # (MLflow's own head revision; heavy import)

    head = _get_latest_schema_revision()
    path = sqlite_file(uri)
    aside = f"mv {path} {path}.broken" if path is not None else "drop that database"
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    if "experiments" not in tables and not leftovers:
        raise _problem(uri, f"is another program's database (its tables: {', '.join(sorted(tables)[:6])}), not an "
                            f"MLflow store", "Give the store its own file, e.g. sqlite:///outputs/mlflow.db.")
    if leftovers or len(versions) != 1:
        found = f"schema version {versions[0] if versions else 'none'}"
        raise _problem(uri, f"was left half-migrated ({found}, {', '.join(leftovers) or 'no schema version'}): a "
                            f"migration was interrupted, e.g. by several processes creating the store at once",
                       f"MLflow cannot finish it; move it away ({aside}) and run again: the command makes a fresh "
                       f"store before its jobs start.")
    if versions[0] != head:
        import mlflow

        raise _problem(uri, f"has schema version {versions[0]}, but MLflow {mlflow.__version__} expects {head}: it "
                            f"was made by another MLflow version",
                       f"Back it up, then upgrade it: mlflow db upgrade {redact(uri)} (or move it away: {aside}).")


def _check_database(uri: str) -> None:
    import sqlalchemy
    from sqlalchemy.exc import NoSuchModuleError

    try:
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": PATIENCE_S}
                                          if scheme_of(uri) in ("postgresql", "mysql") else {})
    except (ImportError, NoSuchModuleError) as err:
        raise _problem(uri, f"needs a database driver that is not installed ({err})",
                       "Install the driver of that database (e.g. pip install psycopg2-binary).") from None
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            versions = [r[0] for r in connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version"))] \
                if "alembic_version" in tables else []
    except Exception as err:  # noqa: BLE001 -- any driver's error: say which store, change nothing
        raise _problem(uri, f"cannot be reached ({type(err).__name__}: {redact(str(err).splitlines()[0])})",
                       "Start the database, fix the URI, or drop mlflow from trainer.loggers.") from None
    finally:
        engine.dispose()
    _check_schema(uri, tables, versions)


def _check_server(uri: str) -> None:
    import mlflow

    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(PATIENCE_S))
    try:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 -- refused, time-out, not MLflow, credentials: say so, in one line
        reason = redact(str(err).splitlines()[0] if str(err) else type(err).__name__)
        raise _problem(uri, f"does not answer ({reason[:300]})",
                       "Start the tracking server, fix the URI, or drop mlflow from trainer.loggers.") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ------------------------------------------------------------------------------------------------- prepare


def _lock_path(uri: str) -> Path | None:
    path = sqlite_file(uri)
    return path.with_name(f".{path.name}.lock") if path is not None else None


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Held while a store is created or migrated and an experiment made: a file lock beside a SQLite store (every
    command and job on this file system takes it); nothing for other stores, whose servers serialize writes."""
    path = _lock_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        yield


def artifact_root(uri: str) -> str:
    """Where a database store keeps its runs' artifacts: beside a SQLite file; for a database server, in the
    output root of the folder the command runs in."""
    path = sqlite_file(uri)
    folder = path.parent if path is not None else DEFAULT_STORE.parent
    return (folder / ARTIFACTS).resolve().as_uri()


def _ready(uri: str, experiment: str) -> bool:
    """Whether a SQLite store has MLflow's tables and the active experiment ``experiment`` (a cheap look, without
    importing MLflow)."""
    path = sqlite_file(uri)
    if path is None or not path.is_file():
        return False
    try:
        connection = _read_only(path)
        try:
            found = connection.execute("SELECT count(*) FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                                       (experiment,)).fetchone()[0]
            return bool(found) and bool(connection.execute("SELECT count(*) FROM alembic_version").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:  # no such table: a fresh or half-made store
        return False


def prepare(uri: str, experiment: str, *, if_needed: bool = False) -> None:
    """Make the store of ``uri`` ready and its experiment ``experiment`` exist, once, under :func:`store_lock`.

    Args:
        if_needed: a job's call: a SQLite store that already has its tables and the experiment (the command
            prepared it) is left alone without importing more of MLflow; a search's trials, planned one at a
            time, may come here first.

    Raises :class:`StoreProblem` naming the store and the fix."""
    if if_needed and _ready(uri, experiment):
        return
    with store_lock(uri), quiet_mlflow():
        if if_needed and _ready(uri, experiment):  # made by another process while this one waited
            return
        try:
            if scheme_of(uri) in DATABASES:
                _prepare_database(uri, experiment)
            else:
                import mlflow  # (an optional library, and a heavy one)

                _experiment(mlflow.MlflowClient(tracking_uri=uri), experiment)
        except StoreProblem:
            raise
        except Exception as err:  # noqa: BLE001 -- MLflow's migration or schema errors, a server's refusal
            raise _problem(uri, f"cannot take this command's runs ({type(err).__name__}: "
                                f"{redact(str(err).splitlines()[0] if str(err) else '')[:300]})",
                           "Fix or move the store, or drop mlflow from trainer.loggers.") from None


def _prepare_database(uri: str, experiment: str) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = sqlite_file(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():  # a store made before: refuse what MLflow would half-migrate or refuse in every job
            check(uri)
    store = SqlAlchemyStore(uri, artifact_root(uri))  # creates and migrates a fresh database
    try:
        found = store.get_experiment_by_name(experiment)
        if found is None:
            store.create_experiment(experiment)  # artifacts: <artifact root>/<experiment id>
        elif found.lifecycle_stage == "deleted":
            store.restore_experiment(found.experiment_id)
    finally:
        store.engine.dispose()


def _experiment(client: Any, name: str) -> None:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return
    try:
        client.create_experiment(name)
    except Exception:  # another command made it in the meantime
        if client.get_experiment_by_name(name) is None:
            raise
