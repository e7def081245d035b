"""Compatibility matrix: which squeeze × excite × gate triples build and run, and why the others are refused.

Every registered triple is built with its default options at C = 16 and run forward and backward in train mode
on inputs (2, C, 7, 9), (2, C, 1, 1) and (1, C, 5, 5). A triple is

* ok       -- it builds and every run gives an output of the input's shape with finite values and gradients;
* refused  -- building it raised SpecError (the table keeps the first sentence of the reason);
* FAIL     -- it built but a run raised or gave non-finite values: a bug.

Multi-input fusion blocks (``type: fusion``) get their own table, squeeze × gate for every excitation that can
emit K·C logits, since branch gates (``softmax``) only work there.

    python scripts/compat_matrix.py            # write docs/compat_matrix.md and print it
    python scripts/compat_matrix.py --check    # exit 1 if docs/compat_matrix.md differs from the registries

The generation takes a few seconds; tests/test_matrix.py runs the check.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # check this tree's package, not whichever one is installed

import torch  # noqa: E402

import se_variants as sv  # noqa: E402

DOC = ROOT / "docs" / "compat_matrix.md"
CHANNELS = 16
SHAPES = ((2, CHANNELS, 7, 9), (2, CHANNELS, 1, 1), (1, CHANNELS, 5, 5))
FUSION_INPUTS = 2
MARK = {"ok": "✓", "refused": "✗", "FAIL": "FAIL"}


@dataclass(frozen=True)
class Result:
    status: str  # ok | refused | FAIL
    reason: str = ""


def first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return re.split(r"(?<=[.!?])\s+(?=[A-Z'`])", text, maxsplit=1)[0]


def run(spec: dict, inputs: int = 1) -> Result:
    """Build ``spec`` at C = CHANNELS and run it forward and backward on every shape in SHAPES."""
    torch.manual_seed(0)
    try:
        block = sv.build_block(spec, channels=CHANNELS)
    except sv.SpecError as err:
        return Result("refused", first_sentence(err))
    block.train()
    for shape in SHAPES:
        xs = [torch.randn(shape, requires_grad=True) for _ in range(inputs)]
        try:
            y = block(*xs)
            y.sum().backward()
        except Exception as err:  # noqa: BLE001 -- any run-time error is what the matrix reports
            return Result("FAIL", f"{shape}: {type(err).__name__}: {first_sentence(err)}")
        grads = [x.grad for x in xs] + [p.grad for p in block.parameters() if p.grad is not None]
        if y.shape != xs[0].shape or not torch.isfinite(y).all() or any(not torch.isfinite(g).all() for g in grads):
            return Result("FAIL", f"{shape}: output {tuple(y.shape)} or its gradients are not finite / not x's shape")
    return Result("ok")


def se_results() -> dict[tuple[str, str, str], Result]:
    return {(s, e, g): run({"squeeze": s, "excite": e, "gate": g})
            for g in sv.GATE.names() for s in sv.SQUEEZE.names() for e in sv.EXCITE.names()}


def fusion_excites() -> list[str]:
    return [e for e in sv.EXCITE.names() if getattr(sv.EXCITE.get(e), "supports_branches", False)]


def fusion_results() -> dict[tuple[str, str, str], Result]:
    spec = {"type": "fusion", "inputs": FUSION_INPUTS}
    return {(s, e, g): run({**spec, "squeeze": s, "excite": e, "gate": g}, inputs=FUSION_INPUTS)
            for e in fusion_excites() for s in sv.SQUEEZE.names() for g in sv.GATE.names()}


def shapes_of(squeeze: str) -> tuple[str, str]:
    """Symbolic descriptor (N, S, C', H', W') and scale (N, C', H', W') shapes of a squeeze's default build."""
    d = sv.SQUEEZE.build(squeeze, CHANNELS).descriptor
    c, h, w = ("C" if "c" in d.keeps else "1"), ("H" if "h" in d.keeps else "1"), ("W" if "w" in d.keeps else "1")
    if d.reduced:
        h, w = (f"{h}/e" if h != "1" else h), (f"{w}/e" if w != "1" else w)
    return f"(N, {d.stats}, {c}, {h}, {w})", f"(N, {c}, {h}, {w})"


class Notes:
    """Numbered footnotes for reasons, shared by all tables."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def cell(self, result: Result) -> str:
        if result.status == "ok":
            return MARK["ok"]
        if result.reason not in self.items:
            self.items.append(result.reason)
        return f"{MARK[result.status]} {self.items.index(result.reason) + 1}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def group_gates(results: dict, first: list[str], second: list[str]) -> list[list[str]]:
    """Gates whose (first × second) grids of results are identical, grouped, in registry order."""
    groups: dict[tuple, list[str]] = {}
    for g in sv.GATE.names():
        key = tuple(results[(a, b, g)] for a in first for b in second)
        groups.setdefault(key, []).append(g)
    return list(groups.values())


def build_markdown() -> str:
    squeezes, excites, gates = sv.SQUEEZE.names(), sv.EXCITE.names(), sv.GATE.names()
    se = se_results()
    fusion = fusion_results()
    notes = Notes()
    counts = {k: sum(r.status == k for r in se.values()) for k in MARK}
    shapes = ", ".join(str(s).replace(" ", "") for s in SHAPES)
    out = [
        "# Compatibility matrix: squeeze × excite × gate",
        "",
        "<!-- Generated by `python scripts/compat_matrix.py` from the registries; do not edit. "
        "tests/test_matrix.py fails when this file is stale. -->",
        "",
        f"Every registered triple is built with its default options at C = {CHANNELS} and run forward and backward "
        f"in train mode on inputs {shapes}.",
        "✓ builds and runs (output of the input's shape, finite values and gradients); "
        "✗ n: refused when built, for reason n below; FAIL n: builds but fails at run time (a bug).",
        "",
        f"{len(squeezes)} squeeze × {len(excites)} excite × {len(gates)} gate = {len(se)} SE blocks: "
        f"{counts['ok']} run, {counts['refused']} refused, {counts['FAIL']} fail.",
    ]

    for group in group_gates(se, squeezes, excites):
        out += ["", f"## SE block, gate {' / '.join(f'`{g}`' for g in group)}", ""]
        cells = {(s, e): se[(s, e, group[0])] for s in squeezes for e in excites}
        if len(set(cells.values())) == 1 and next(iter(cells.values())).status != "ok":
            result = next(iter(cells.values()))
            out.append(f"Every squeeze × excite pair: {notes.cell(result)}.")
            if all(getattr(sv.GATE.get(g), "across_branches", False) for g in group):
                out[-1] += (" A branch gate normalises across the K inputs of a fusion block, so single SE blocks "
                            "refuse it by design; it works in fusion blocks (below).")
            continue
        rows = []
        for s in squeezes:
            desc, scale = shapes_of(s)
            rows.append([f"`{s}`", desc, scale] + [notes.cell(cells[(s, e)]) for e in excites])
        out += table(["squeeze", "descriptor", "scale"] + [f"`{e}`" for e in excites], rows)

    for e in fusion_excites():
        out += ["", f"## Fusion block (`type: fusion`, inputs: {FUSION_INPUTS}), excite `{e}`", "",
                f"Squeeze × gate; `{e}` is the excitation that can emit the K·C logits a fusion block needs.", ""]
        rows = [[f"`{s}`"] + [notes.cell(fusion[(s, e, g)]) for g in gates] for s in squeezes]
        out += table(["squeeze"] + [f"`{g}`" for g in gates], rows)

    out += ["", "## Reasons", ""]
    out += [f"{i}. {reason}" for i, reason in enumerate(notes.items, 1)] or ["(none)"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {DOC.relative_to(ROOT)} is stale")
    parser.add_argument("--out", type=Path, default=DOC, help="where to write the matrix (default: %(default)s)")
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and the machine is shared)
    start = time.perf_counter()
    text = build_markdown()
    took = time.perf_counter() - start
    if ns.check:
        old = ns.out.read_text(encoding="utf-8") if ns.out.exists() else ""
        if old == text:
            print(f"{ns.out} is up to date ({took:.1f} s).", file=sys.stderr)
            return 0
        diff = difflib.unified_diff(old.splitlines(), text.splitlines(), "committed", "registries now", lineterm="")
        print("\n".join(list(diff)[:60]), file=sys.stderr)
        print(f"\n{ns.out} is stale: regenerate it with `python scripts/compat_matrix.py` and commit it.",
              file=sys.stderr)
        return 1
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"wrote {ns.out} ({took:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
