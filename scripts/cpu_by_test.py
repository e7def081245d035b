"""A pytest plugin for ``scripts/bench_tests.py --by-test``: the CPU time of every test, in the process that runs it
(``self``) and in the processes it started and waited for (``children``), one JSON line each, appended to the
file named by the environment variable ``SV_TEST_CPU`` (each xdist worker appends its own).

What it cannot see: a child is counted when it is reaped, which may be during a later test (``subprocess`` reaps
abandoned children when the next one starts), and not at all when it is never waited for by the process running
the test (the workers of a sweep run inside the test process are children of its fork server, which lives on).
"""

from __future__ import annotations

import json
import os
import resource

import pytest


def _cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    before = _cpu()
    yield
    after = _cpu()
    with open(os.environ["SV_TEST_CPU"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": item.nodeid, "slow": item.get_closest_marker("slow") is not None,
                              "self": after[0] - before[0], "children": after[1] - before[1]}) + "\n")
