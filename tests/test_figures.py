"""The figures README.md and docs/ quote are the ones their scripts recorded (``scripts/figures.py``).

A script that measures a figure the documentation quotes writes it, as the exact text quoted, into
``docs/figures/<script>.json`` with the machine it ran on (``--record``). A document that no longer quotes a
recorded figure -- edited by hand, or left behind by a new measurement -- fails here, naming the figure, its
script and the command that measured it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the recordings of scripts/figures.py (docs/figures/ also holds data a page is rendered from, e.g. ucr.json,
#: which tests/runner/test_ucr_table.py checks against its page)
RECORDS = sorted(p for p in (ROOT / "docs" / "figures").glob("*.json")
                 if {"script", "figures"} <= set(json.loads(p.read_text(encoding="utf-8"))))


def test_figures_are_recorded():
    assert RECORDS, "docs/figures/ holds no recorded figures: run the scripts that measure them with --record"


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_every_recorded_figure_is_quoted_by_its_document(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (ROOT / data["script"]).is_file(), f"{path.name}: its script {data['script']} does not exist"
    assert {"cpu", "isa", "cores", "threads", "torch", "python"} <= set(data["machine"]), data["machine"]
    stale = []
    for name, figure in data["figures"].items():
        doc = ROOT / figure["doc"]
        if not doc.is_file() or figure["text"] not in doc.read_text(encoding="utf-8"):
            stale.append(f"{figure['doc']}: {name}:\n{figure['text']}")
    assert not stale, (f"these figures recorded by `{data['command']}` ({data['measured']}) are not what the "
                       f"documents quote; run it again with --record, or quote them as recorded:\n\n"
                       + "\n\n".join(stale))
