"""The Hydra app behind ``se-variants train`` and ``python -m se_variants.train``.

:func:`main` checks every job of the command line before anything trains (the preflight: compose each job's
config, validate it against the schema and the registries, build its model once), then hands the same
arguments to Hydra, whose task function runs :func:`se_variants.runner.job.run_job`. A multirun writes the
sweep's report after every job (:class:`ReportCallback`), so it exists however the sweep ends.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..registry import suggest
from .gen import register_missing
from .identity import config_hashes, safe_name
from .schema import register_schema
from .validate import ConfigError, check_config, check_part_overrides, import_user_modules

__all__ = ["CONFIG_DIR", "main", "task", "ReportCallback", "Plan", "preflight", "compose", "parse_args"]

#: the packaged config tree (top-level configs/ of the repository, installed as package data)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CONFIG_NAME = "train"
# Hydra flags that only print something: no preflight, straight to Hydra
_PASSTHROUGH = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i", "--shell-completion",
                "-sc", "--package", "-p", "--resolve"}


def _register() -> None:
    if not OmegaConf.has_resolver("sv_job_name"):
        OmegaConf.register_new_resolver("sv_job_name", safe_name)
    register_schema()


_register()


@dataclass
class Args:
    """The parts of a ``train`` command line the preflight needs."""

    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    config_dirs: list[str] = field(default_factory=list)
    config_name: str = CONFIG_NAME
    passthrough: bool = False


def parse_args(argv: list[str]) -> Args:
    args = Args()
    it = iter(argv)
    for a in it:
        if a in ("-m", "--multirun"):
            args.multirun = True
        elif a in ("-cd", "--config-dir"):
            args.config_dirs.append(next(it, ""))
        elif a.startswith("--config-dir="):
            args.config_dirs.append(a.split("=", 1)[1])
        elif a in ("-cn", "--config-name"):
            args.config_name = next(it, CONFIG_NAME)
        elif a.startswith("--config-name="):
            args.config_name = a.split("=", 1)[1]
        elif a in _PASSTHROUGH or a.split("=", 1)[0] in _PASSTHROUGH or a.startswith("-"):
            args.passthrough = True
        else:
            args.overrides.append(a)
    return args


@dataclass
class Plan:
    """What a command line will run: one entry per job, and where the results go."""

    jobs: list[tuple[list[str], dict[str, Any]]]  # (task overrides, resolved config)
    out_dir: Path  # the sweep folder (multirun) or the run folder
    multirun: bool
    extra_hydra: list[str]  # hydra.* overrides the preflight adds (the output folder)


def _searchpath(args: Args) -> list[str]:
    return [f"hydra.searchpath=[{','.join('file://' + str(Path(d).resolve()) for d in args.config_dirs)}]"] \
        if args.config_dirs else []


def _explain(err: Exception, base: DictConfig | None = None) -> str:
    """Hydra/OmegaConf's message, with a 'did you mean' when a group option or a key is misspelled."""
    msg = str(err).strip()
    cause = err.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip() not in msg:
        msg = f"{msg}: {str(cause).strip()}"
    m = re.search(r"Could not find '([^']+)/([^']+)'", msg)
    if m:
        group, name = m.groups()
        options = re.findall(r"^\s+(\S+)\s*$", msg.split("Available options", 1)[-1], flags=re.M)
        hint = suggest(name, options)
        return f"unknown {group} option {name!r}.{hint} Available {group} options: {', '.join(options)}."
    m = re.search(r"Could not override '([^']+)'", msg) or re.search(r"Key '[^']+' not in '[^']+'\s+full_key: (\S+)", msg)
    if m and base is not None:
        key = m.group(1)
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        if isinstance(node, DictConfig):
            keys = [str(k) for k in node.keys()]
            return (f"unknown key {key!r}.{suggest(leaf, keys)} Keys of {parent or 'the top level'}: "
                    f"{', '.join(keys)}. (To add a new key on purpose, write +{key}=...)")
    return msg


def compose(overrides: list[str], config_dirs: list[str] | None = None, config_name: str = CONFIG_NAME,
            hydra_node: bool = False) -> DictConfig:
    """Compose the runner's config with ``overrides`` through Hydra's compose API (no job is run)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    extra = _searchpath(Args(config_dirs=list(config_dirs or [])))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=CONFIG_NAME):
        return hydra_compose(config_name, overrides=[*extra, *overrides], return_hydra_config=hydra_node)


def _import_from_overrides(overrides: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for o in OverridesParser.create().parse_overrides([o for o in overrides if o.lstrip("+~").startswith("imports=")]):
        value = o.value()
        import_user_modules(value if isinstance(value, list) else [value])


def _groups_only(overrides: list[str], args: Args) -> DictConfig | None:
    """The config with only the group choices of ``overrides`` (to list the keys a misspelled one missed)."""
    choices = [o for o in overrides if "." not in o.split("=", 1)[0] and not o.startswith(("+", "~"))]
    for attempt in (choices, []):
        try:
            return compose(attempt, args.config_dirs, args.config_name)
        except Exception:
            continue
    return None


def preflight(args: Args) -> Plan:
    """Compose and validate every job of ``args`` (raises ConfigError naming the key at fault)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    _import_from_overrides(args.overrides)
    register_missing([CONFIG_DIR, *map(Path, args.config_dirs)])
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(args.overrides)
    except HydraException as err:
        raise ConfigError(f"cannot parse the overrides: {err}") from None
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    try:
        base = compose(plain, args.config_dirs, args.config_name, hydra_node=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_explain(err, _groups_only(plain, args))) from None
    if any(o.is_sweep_override() for o in parsed) and not args.multirun:
        sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
        raise ConfigError(f"{sweeps[0]} lists several values: add -m to run a sweep over them (se-variants train -m ...).")
    task_overrides = [o for o in parsed if not o.get_key_element().startswith("hydra.")]
    hydra_overrides = [o.input_line for o in parsed if o.get_key_element().startswith("hydra.")]
    if args.multirun:
        params = base.hydra.sweeper.get("params") or {}
        params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else dict(params)
        from_config = parser.parse_overrides([f"{k}={v}" for k, v in params.items()])
        batches = BasicSweeper.split_arguments([*from_config, *task_overrides], max_batch_size=None)
        job_overrides = [list(job) for batch in batches for job in batch]
    else:
        job_overrides = [[o.input_line for o in task_overrides]]
    jobs, checked = [], set()
    for overrides in job_overrides:
        try:
            cfg = compose(overrides + hydra_overrides, args.config_dirs, args.config_name)
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(_explain(err, base)) from None
        try:
            check_part_overrides(overrides, cfg)
            plain_cfg = check_config(cfg, build=False)
            variant = config_hashes(plain_cfg)["variant_hash"]
            if variant not in checked:  # build the model once per variant (seeds share it)
                check_config(plain_cfg, build=True)
                checked.add(variant)
        except ConfigError as err:
            prefix = f"job {' '.join(overrides)}: " if args.multirun and len(job_overrides) > 1 else ""
            raise ConfigError(f"{prefix}{err}") from None
        jobs.append((overrides, plain_cfg))
    extra: list[str] = []
    if args.multirun:
        given = [o for o in hydra_overrides if o.startswith("hydra.sweep.dir=")]
        if given:
            out_dir = Path(str(base.hydra.sweep.dir))
        else:
            # named after the sweep's arguments, without = and , so the name can be passed back as an override
            name = safe_name("_".join(sorted(o.input_line for o in task_overrides))).replace("=", "-").replace(",", "+")
            out_dir = Path("multirun") / name
            extra = [f"hydra.sweep.dir='{out_dir}'"]
    else:
        out_dir = Path(str(base.hydra.run.dir))
        if not any(o.startswith("hydra.run.dir=") for o in hydra_overrides):
            extra = [f"hydra.run.dir='{out_dir}'"]  # the timestamp fixed now, so main() knows the folder
    return Plan(jobs, out_dir, args.multirun, extra)


# ---------------------------------------------------------------------------------------------------- Hydra side


def task(cfg: DictConfig) -> float | None:
    """Hydra's task function: one job. Returns the test accuracy (None when the job failed), so optimising
    sweepers (Optuna, Nevergrad) can use it."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .job import JobConflict, run_job

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    job_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    root = Path(hc.sweep.dir) if multirun else job_dir
    try:
        record = run_job(cfg, job_dir, overrides, results_root=root, quiet=multirun)
    except JobConflict as err:
        print(f"se-variants: job {' '.join(overrides)} not run: {err}", file=sys.stderr)
        return None
    print(_job_line(record, overrides))
    if record["status"] != "ok":
        return None
    return record["metrics"].get("test", {}).get("acc")


def _job_line(record: dict[str, Any], overrides: list[str]) -> str:
    what = " ".join(overrides) or "(defaults)"
    if record.get("skipped"):
        return f"[skip] {what}: already done in {record.get('job_dir')} (test acc {_acc(record)})"
    if record["status"] == "ok":
        return f"[ok]   {what}: test acc {_acc(record)} ({record['wall_time_s']:.1f} s)"
    err = record.get("error") or {}
    return f"[FAIL] {what}: {err.get('type')}: {err.get('message')}"


def _acc(record: dict[str, Any]) -> str:
    acc = (record.get("metrics") or {}).get("test", {}).get("acc")
    return f"{acc * 100:.2f}%" if acc is not None else "–"


class ReportCallback(Callback):
    """Rewrites the sweep's report after every job (failed ones too) and at the end of the multirun."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.types import RunMode

        if config.hydra.mode == RunMode.MULTIRUN:
            from .report import write_report

            write_report(Path(str(config.hydra.sweep.dir)), plot=False)  # the plot at the end (or `report`)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from .report import format_table, write_report

        result = write_report(Path(str(config.hydra.sweep.dir)))
        if result["rows"]:
            print("\n" + format_table(result["rows"]))


def _run_hydra(argv: list[str]) -> int:
    import hydra

    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)(task)
    saved = sys.argv
    sys.argv = ["train", *argv]
    try:
        app()
        return 0
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved


def _outcome(plan: Plan) -> int:
    """Print how the planned jobs ended (from their metrics.json); 0 when all are ok."""
    from .results import find_done, iter_results

    results = {r.record["config_hash"]: (r.folder, r.record) for r in iter_results(plan.out_dir) if r.record}
    bad = []
    for overrides, cfg in plan.jobs:
        h = config_hashes(cfg)["config_hash"]
        if find_done(plan.out_dir, h) is None:
            folder, record = results.get(h, (None, {}))
            err = (record or {}).get("error") or {}
            bad.append(f"{' '.join(overrides) or '(defaults)'}: "
                       f"{err.get('type', 'no result')}: {err.get('message', 'see the log above')}")
    if plan.multirun:
        report = plan.out_dir / "report.md"
        print(f"\n{len(plan.jobs) - len(bad)} of {len(plan.jobs)} jobs ok. Sweep folder: {plan.out_dir}"
              + (f"; report: {report}" if report.is_file() else ""))
    if bad:
        print(f"{len(bad)} job(s) failed:\n  " + "\n  ".join(bad), file=sys.stderr)
        if plan.multirun:
            print(f"Re-run the same command to retry only these (finished jobs are skipped).", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``se-variants train [-m] [overrides]``: preflight every job, then run the Hydra app. Returns the exit
    code: 0 all jobs ok, 1 some job failed, 2 a bad config or command line (nothing trained)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.passthrough:
        return _run_hydra(argv)
    try:
        plan = preflight(args)
    except ConfigError as err:
        print(f"se-variants train: error: {err}", file=sys.stderr)
        return 2
    if plan.multirun:
        print(f"Sweep of {len(plan.jobs)} jobs into {plan.out_dir} (re-running the same command skips finished jobs).")
    code = _run_hydra([*argv, *plan.extra_hydra])
    outcome = _outcome(plan)
    return code or outcome
