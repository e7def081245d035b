"""The results index: a report reads a record again only when its file changed; a stale or broken index costs
a re-read, never a wrong number."""

from __future__ import annotations

import json
import os

from se_variants.runner.results import INDEX_FILE, iter_results, write_json

from .test_report import _record


def _accs(folder):
    return {r.folder.name: r.record["metrics"]["test"]["acc"] for r in iter_results(folder, index=True)}


def test_the_index_follows_every_change(tmp_path):
    write_json(tmp_path / "a" / "metrics.json", _record("v", "c", "none", 0, 0.5))
    write_json(tmp_path / "b" / "metrics.json", _record("w", "c", "parts", 0, 0.6))
    assert _accs(tmp_path) == {"a": 0.5, "b": 0.6}
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert set(index["files"]) == {"a/metrics.json", "b/metrics.json"}
    write_json(tmp_path / "b" / "metrics.json", _record("w", "c", "parts", 0, 0.7))  # a re-run
    (tmp_path / "a" / "metrics.json").unlink()
    write_json(tmp_path / "c" / "metrics.json", _record("x", "c", "parts", 0, 0.8))
    assert _accs(tmp_path) == {"b": 0.7, "c": 0.8}
    (tmp_path / INDEX_FILE).write_text("{not json")
    assert _accs(tmp_path) == {"b": 0.7, "c": 0.8}


def test_an_index_entry_is_used_only_for_the_file_it_was_read_from(tmp_path):
    """A lying index (the entry's record differs from the file, same size and time stamp: never written so by
    se-variants) shows that entries are keyed by size and time; any change to the file invalidates its entry."""
    path = tmp_path / "a" / "metrics.json"
    write_json(path, _record("v", "c", "none", 0, 0.5))
    iter_results(tmp_path, index=True)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    index["files"]["a/metrics.json"]["record"]["metrics"]["test"]["acc"] = 0.9
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    assert _accs(tmp_path) == {"a": 0.9}  # trusted while the file is untouched ...
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert _accs(tmp_path) == {"a": 0.5}  # ... and re-read as soon as it changes


def test_the_report_tells_a_running_job_from_a_killed_one(tmp_path):
    from se_variants.runner.claims import acquire
    from se_variants.runner.report import write_report

    from .test_claims import _dead_pid, _write_claim

    for name, seed in (("live", 0), ("dead", 1)):
        write_json(tmp_path / name / "metrics.json", {**_record("v", "c", "parts", seed, None, status="running"),
                                                       "error": None})
    _write_claim(tmp_path / "dead", pid=_dead_pid())
    with acquire(tmp_path / "live"):
        write_report(tmp_path, plot=False)
    md = (tmp_path / "report.md").read_text()
    live = next(line for line in md.splitlines() if line.startswith("| `live`"))
    dead = next(line for line in md.splitlines() if line.startswith("| `dead`"))
    assert "being trained by" in live and f":{os.getpid()}" in live
    assert "interrupted" in dead and "re-run the command to resume" in dead
