"""What the sweeper (``hydra/sweeper=se_variants``) does in the main process: launch the planned jobs in batches
through the configured launcher, wait for jobs another process is training, write the final report and decide
the exit code. The jobs themselves run :func:`.task.run_task` wherever the launcher puts them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["run_sweep", "batches"]


def batches(jobs: list[list[str]], size: int | None) -> list[list[list[str]]]:
    """``jobs`` in consecutive batches of ``size`` (all in one batch when ``size`` is None or -1)."""
    if size is None or size == -1:
        return [jobs] if jobs else []
    if size < 1:
        raise ValueError(f"hydra.sweeper.max_batch_size must be >= 1 (or null for all), got {size}.")
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


def _summaries(returns: list[Any], jobs: list[list[str]]) -> list[dict[str, Any]]:
    """The task summaries of the launched jobs; a job whose task raised becomes a failed summary."""
    out = []
    for ret, overrides in zip(returns, jobs):
        try:
            value = ret.return_value  # re-raises what the task raised
        except Exception as err:
            value = {"status": "failed", "overrides": overrides, "job_dir": None, "error": f"{type(err).__name__}: {err}"}
        out.append(value if isinstance(value, dict) else {"status": "failed", "overrides": overrides,
                                                           "job_dir": None, "error": f"task returned {value!r}"})
    return out


def run_sweep(config: DictConfig, launcher: Any, arguments: list[str], params: dict[str, str],
              max_batch_size: int | None) -> list[dict[str, Any]]:
    """Run the sweep; returns the job summaries, or exits 1 when a job failed or did not finish."""
    from .identity import job_name
    from .plan import expand
    from .report import format_table, write_report
    from .results import write_json
    from .task import PLAN_FILE, report_lock, wait_for_owners

    ab = config.get("ablation") or {}
    jobs = expand(arguments, params, list(ab.get("variants") or []), list(ab.get("seeds") or []))
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    write_json(sweep_dir / PLAN_FILE, {"jobs": [job_name(j) for j in jobs], "overrides": jobs,
                                       "launcher": str(config.hydra.launcher.get("_target_", "")),
                                       "planned": time.strftime("%Y-%m-%dT%H:%M:%S")})
    summaries: list[dict[str, Any]] = []
    start = time.perf_counter()
    interrupted = False
    try:
        index = 0
        for batch in batches(jobs, max_batch_size):
            summaries += _summaries(list(launcher.launch(batch, initial_job_idx=index)), batch)
            index += len(batch)
        wait_for_owners(summaries)
    # Ctrl-C or SIGTERM (the command turns it into KeyboardInterrupt) here -- the launcher stops its workers, so
    # none is left training unattended -- or in a job of the basic launcher (Lightning exits)
    except (KeyboardInterrupt, SystemExit):
        interrupted = True
    finally:
        with report_lock(sweep_dir):  # the command's report.* settings, also over jobs run with other ones
            result = write_report(sweep_dir, alpha=config.report.alpha, paired=config.report.paired)
    if interrupted:
        print(f"\nInterrupted. Finished jobs are kept in {sweep_dir}; run the same command again to go on (finished "
              f"jobs are skipped, interrupted ones resume from their last epoch).", file=sys.stderr)
        target = str(config.hydra.launcher.get("_target_", ""))
        if "submitit" in target:  # submitit's jobs are processes (or SLURM jobs) of their own: they go on
            stop = (f"pkill -f '{sweep_dir.resolve() / '.submitit'}'" if "Local" in target else
                    f"scancel <job id> (the ids are the folder names under {sweep_dir / '.submitit'})")
            print(f"Jobs already handed to submitit keep running; the next run of the command waits for them. To "
                  f"stop them: {stop}", file=sys.stderr)
        sys.exit(130)
    if result["rows"]:
        print("\n" + format_table(result["rows"]))
    by_hash = {r["config_hash"]: r for r in result["records"]}
    by_name = {Path(r["job_dir"]).name: r for r in result["records"]}
    bad = []
    for i, job in enumerate(jobs):
        done = summaries[i] if i < len(summaries) else {}
        record = by_hash.get(done.get("config_hash")) or by_name.get(job_name(job))
        if record is None or record["status"] != "ok":
            what = " ".join(o for o in job if not o.startswith("experiment=")) or "(defaults)"
            err = (record or {}).get("error") or {}
            why = f"{err.get('type')}: {err.get('message')}" if err else \
                ("did not finish" if record else "no result")
            bad.append(f"{what}: {' '.join(str(why).split())[:300]}")
    print(f"\n{len(jobs) - len(bad)} of {len(jobs)} jobs ok in {time.perf_counter() - start:.0f} s. Sweep folder: "
          f"{sweep_dir}; report: {sweep_dir / 'report.md'} (also report.csv, jobs.csv, report.png)")
    for b in result["broken"]:
        print(f"broken record, not counted: {b['path']}: {b['problem']}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} job(s) failed or did not finish:\n  " + "\n  ".join(bad), file=sys.stderr)
        print("Run the same command again to retry only these (finished jobs are skipped).", file=sys.stderr)
        sys.exit(1)
    return summaries
