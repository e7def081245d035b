"""docs/compat_matrix.md is what scripts/compat_matrix.py produces from the registries now (so it cannot go stale)."""

from __future__ import annotations

import re

import pytest

from se_variants import EXCITE, SQUEEZE

pytestmark = pytest.mark.slow  # the matrix trains every squeeze × excite × gate × dims one step


@pytest.fixture(scope="module")
def generated(matrix, matrix_results):
    return matrix.build_markdown()  # from the session's results (computed once)


def test_committed_matrix_is_up_to_date(matrix, generated):
    committed = matrix.DOC.read_text(encoding="utf-8") if matrix.DOC.exists() else ""
    assert committed == generated, (
        f"{matrix.DOC} is stale: regenerate it with `python scripts/compat_matrix.py` and commit it."
    )


def test_matrix_covers_the_registries_and_nothing_fails(generated):
    rows = {line.split("|")[1].strip().strip("`") for line in generated.splitlines() if line.startswith("| `")}
    assert set(SQUEEZE.names()) <= rows
    header = next(line for line in generated.splitlines() if line.startswith("| squeeze | dims"))
    assert all(f"`{e}`" in header for e in EXCITE.names())
    assert ", 0 fail." in generated and not re.search(r"FAIL \d", generated)


def test_check_mode_exit_codes(matrix, generated, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(matrix, "build_markdown", lambda: generated)  # the check logic, without regenerating
    out = tmp_path / "matrix.md"
    out.write_text(generated, encoding="utf-8")
    assert matrix.main(["--check", "--out", str(out)]) == 0
    out.write_text(generated.replace("✓", "✗", 1), encoding="utf-8")
    assert matrix.main(["--check", "--out", str(out)]) == 1
    assert "is stale: regenerate it" in capsys.readouterr().err
    assert matrix.main(["--check", "--out", str(tmp_path / "missing.md")]) == 1


def test_the_readme_quotes_the_matrix_counts(generated):
    """README.md's sentence about the matrix carries the counts of the generated file (scripts/compat_matrix.py)."""
    from pathlib import Path

    m = re.search(r"(\d+) squeeze × (\d+) excite × (\d+) gate × (\d+) dims = (\d+) SE blocks: (\d+) run \([^)]*\), "
                  r"(\d+) refused, (\d+) fail\.", generated)
    assert m, "the matrix's count line changed: update this test and README.md"
    s, e, g, d, total, ok, refused, fail = m.groups()
    quoted = f"{s} × {e} × {g} × {d} = {total} blocks: {ok} run, {refused} refused as they should be, {fail} fail"
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert quoted in readme, f"README.md should say: {quoted}"
