"""``se-variants ablate``: run an ablation (variants × seeds) in this process, one job after another, through
the same :func:`~se_variants.runner.job.run_job` as ``train``; print the table and write the report.

With no arguments it runs ``configs/experiment/ablate_digits.yaml``: a no-attention baseline and 17 variants
on the embedded digits, 2 seeds each. Finished jobs in the output folder are skipped, so an interrupted
ablation resumes where it stopped and a finished one only prints its table again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .hydra_app import CONFIG_DIR, ConfigError, _explain, _import_from_overrides, compose
from .identity import config_hashes, job_name
from .validate import check_config, check_part_overrides

__all__ = ["main", "plan_ablation", "DEFAULT_EXPERIMENT"]

DEFAULT_EXPERIMENT = "ablate_digits"
#: top-level keys that steer the command rather than a job
RUN_KNOBS = ("ablation", "rerun")
USAGE = """usage: se-variants ablate [overrides ...]

Runs the ablation of an experiment config (default: experiment=ablate_digits): every variant in
ablation.variants with every seed in ablation.seeds, in this process, then prints the results table and
writes report.md / report.csv / jobs.csv / report.png into the output folder (hydra.sweep.dir; default
outputs/ablate/<ablation.name>). Finished jobs there are skipped; rerun=true runs them again.

examples:
  se-variants ablate
  se-variants ablate trainer.max_epochs=30 'ablation.seeds=[0,1,2]'
  se-variants ablate experiment=my_ablation hydra.sweep.dir=results/mine
"""


def plan_ablation(overrides: list[str]) -> tuple[Path, list[tuple[list[str], dict[str, Any]]], dict[str, Any]]:
    """(output folder, [(job overrides, resolved config)], base config) for ``overrides``; validates every job
    (raises ConfigError naming the key at fault)."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .gen import register_missing

    _import_from_overrides(overrides)
    register_missing([CONFIG_DIR])
    if not any(o.lstrip("+").startswith("experiment=") for o in overrides):
        overrides = [f"experiment={DEFAULT_EXPERIMENT}", *overrides]
    hydra_overrides = [o for o in overrides if o.startswith("hydra.")]
    # run knobs (the ablation list, rerun) shape the command, not a job: left out of job names and records
    knobs = [o for o in overrides if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] in RUN_KNOBS]
    user = [o for o in overrides if not o.startswith("hydra.") and o not in knobs]
    try:
        base = compose(overrides, hydra_node=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_explain(err, compose([]))) from None
    ablation = base.ablation
    if not ablation.variants:
        raise ConfigError("ablation.variants: the experiment lists no variants; give a list of override strings, "
                          "e.g. ablation.variants: ['block=none', 'squeeze=avg excite=fc'].")
    if not ablation.seeds:
        raise ConfigError("ablation.seeds: empty; give at least one seed, e.g. ablation.seeds=[0,1].")
    out_dir = Path(str(base.hydra.sweep.dir))
    jobs, checked = [], set()
    for variant in ablation.variants:
        for seed in ablation.seeds:
            job = [*user[:1], *str(variant).split(), f"seed={seed}", *user[1:]]
            try:
                cfg = compose(job + knobs + hydra_overrides)
                check_part_overrides(job, cfg)
                plain = check_config(cfg, build=False)
                key = config_hashes(plain)["variant_hash"]
                if key not in checked:
                    check_config(plain, build=True)
                    checked.add(key)
            except (HydraException, OmegaConfBaseException) as err:
                raise ConfigError(f"variant {variant!r}: {_explain(err, base)}") from None
            except ConfigError as err:
                raise ConfigError(f"variant {variant!r}: {err}") from None
            jobs.append((job, plain))
    task_keys = [k for k in base.keys() if k != "hydra"]
    return out_dir, jobs, OmegaConf.to_container(OmegaConf.masked_copy(base, task_keys), resolve=True)


def main(argv: list[str]) -> int:
    """Run the ablation; 0 when every job is ok, 1 when some failed, 2 for a bad config (nothing trained)."""
    from .report import format_table, write_report

    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        print(f"se-variants ablate: error: unknown flag {flags[0]!r}; ablate takes Hydra overrides only "
              f"(e.g. rerun=true, hydra.sweep.dir=<folder>).\n\n{USAGE}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        out_dir, jobs, base = plan_ablation(list(argv))
    except ConfigError as err:
        print(f"se-variants ablate: error: {err}", file=sys.stderr)
        return 2
    ab = base["ablation"]
    model, data = base["model"], base["data"]
    print(f"Ablation '{ab['name']}': {len(ab['variants'])} variants × {len(ab['seeds'])} seeds = {len(jobs)} jobs; "
          f"model {model['name']} {', '.join(f'{k}={v}' for k, v in model.items() if k in ('depth', 'arch'))}, "
          f"data {data['name']}, {base['trainer']['max_epochs']} epochs → {out_dir}")
    try:
        failed = _run_all(jobs, out_dir)
    except (KeyboardInterrupt, SystemExit):
        write_report(out_dir)
        print(f"\nInterrupted. Finished jobs are kept in {out_dir}; run the same command again to resume "
              f"(finished jobs are skipped, an interrupted one continues from its last checkpoint).", file=sys.stderr)
        return 130
    result = write_report(out_dir)
    print("\n" + format_table(result["rows"]))
    print(f"\n{len(jobs) - failed} of {len(jobs)} jobs ok in {time.perf_counter() - start:.0f} s. "
          f"Report: {out_dir / 'report.md'} (also report.csv, jobs.csv, report.png)")
    if failed:
        print(f"{failed} job(s) failed; their errors are in the report. Run the same command again to retry only "
              f"those.", file=sys.stderr)
    return 1 if failed else 0


def _run_all(jobs: list[tuple[list[str], dict[str, Any]]], out_dir: Path) -> int:
    """Run the jobs one after another, one progress line each, the report updated after each; returns the
    number of failed jobs."""
    from .job import JobConflict, run_job
    from .report import write_report

    failed = 0
    width = len(str(len(jobs)))
    for i, (overrides, cfg) in enumerate(jobs, 1):
        shown = " ".join(o for o in overrides if not o.startswith("experiment="))
        prefix = f"[{i:>{width}}/{len(jobs)}] {shown:<44}"
        try:
            record = run_job(cfg, out_dir / job_name(overrides), overrides, results_root=out_dir, quiet=True)
        except JobConflict as err:
            failed += 1
            print(f"{prefix} not run: {err}", flush=True)
            continue
        acc = (record.get("metrics") or {}).get("test", {}).get("acc")
        if record.get("skipped"):
            print(f"{prefix} done before: test acc {acc * 100:.2f}%", flush=True)
        elif record["status"] == "ok":
            print(f"{prefix} test acc {acc * 100:.2f}%  ({record['wall_time_s']:.1f} s)", flush=True)
        else:
            failed += 1
            err = record.get("error") or {}
            print(f"{prefix} FAILED {err.get('type')}: {err.get('message')}", flush=True)
        write_report(out_dir, plot=False)
    return failed
