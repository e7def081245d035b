"""Results on disk: written atomically with the permissions of any other new file (teammates on a shared file
system can read them), read back with limits; nothing hidden feeds a number (a stray index file is ignored)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from se_variants.runner.files import FileProblem, parse_json, write_atomic, write_json
from se_variants.runner.results import load_record, scan

from .test_report import _record


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_respect_the_umask(umask, tmp_path):
    """mkstemp makes 0600 files; results get 0666 minus the umask, as the other files of the job do."""
    old = os.umask(umask)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
        write_atomic(tmp_path / "report.md", "# report\n")
        reference = tmp_path / "plain.txt"
        reference.write_text("x")
    finally:
        os.umask(old)
    expected = stat.S_IMODE(reference.stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("metrics.json", "report.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_folder_where_a_file_belongs_is_refused_not_replaced(tmp_path):
    (tmp_path / "report.md").mkdir()
    with pytest.raises(FileProblem, match="is a folder"):
        write_atomic(tmp_path / "report.md", "text")
    assert (tmp_path / "report.md").is_dir()


@pytest.mark.parametrize("content,problem", [
    (b"", "empty file"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "JSON nested too deeply"),
])
def test_reads_are_bounded(content, problem, tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    assert parse_json(path)[1].startswith(problem)
    assert load_record(path) == (None, parse_json(path)[1])
    (tmp_path / "folder.json").mkdir()
    assert parse_json(tmp_path / "folder.json") == (None, "a folder, not a file")
    assert parse_json(tmp_path / "huge.json", max_bytes=2)[1] == "missing"
    path.write_bytes(b'{"a": 1}')
    assert parse_json(path, max_bytes=3)[1].startswith("8 bytes, larger than")


def test_a_scan_reads_every_record_and_trusts_no_hidden_file(tmp_path):
    write_json(tmp_path / "a" / "metrics.json", _record("v", "c", "none", 0, 0.9511))
    write_json(tmp_path / "b" / "metrics.json", _record("w", "c", "parts", 0, 0.6))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "metrics.json").write_text("{broken")
    # what an earlier version kept as an index: never read, whatever it says
    (tmp_path / ".results-index.json").write_text(json.dumps({"version": 1, "files": {"a/metrics.json": {
        "key": [0, 0], "record": _record("v", "c", "none", 0, 0.123), "problem": None}}}))
    found = {r.folder.name: r for r in scan(tmp_path)}
    assert set(found) == {"a", "b", "c"}
    assert found["a"].record["metrics"]["test"]["acc"] == 0.9511
    assert found["c"].record is None and found["c"].problem.startswith("not valid JSON")
