"""Compatibility matrix: which squeeze × excite × gate triples build and run on 1-D, 2-D and 3-D inputs, and why
the others are refused.

Every registered triple is built with its default options at C = 16 for dims 1, 2 and 3 and run forward and
backward in train mode on the inputs of SHAPES. A triple is, per dims,

* ok       -- it builds and every run gives an output of the input's shape with finite values and gradients;
* refused  -- building it raised SpecError (the table keeps the first sentence of the reason);
* FAIL     -- it built but a run raised or gave non-finite values: a bug.

Multi-input fusion blocks (``name: fusion``) get their own table (2-D), squeeze × gate for every excitation that
can emit K·C logits, since branch gates (``softmax``) only work there.

    python scripts/compat_matrix.py            # write docs/compat_matrix.md and print it
    python scripts/compat_matrix.py --check    # exit 1 if docs/compat_matrix.md differs from the registries

The generation takes about 20 s; tests/test_matrix.py runs the check, and tests/test_parts.py reads the same
results (:func:`results`, computed once per process).
"""

from __future__ import annotations

import argparse
import difflib
import functools
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
DIMS = (1, 2, 3)
SHAPES = {
    1: ((2, CHANNELS, 11), (2, CHANNELS, 1), (1, CHANNELS, 5)),
    2: ((2, CHANNELS, 7, 9), (2, CHANNELS, 1, 1), (1, CHANNELS, 5, 5)),
    3: ((2, CHANNELS, 3, 5, 4), (1, CHANNELS, 1, 1, 1)),
}
FUSION_INPUTS = 2
MARK = {"ok": "✓", "refused": "✗", "FAIL": "FAIL"}


@dataclass(frozen=True)
class Result:
    status: str  # ok | refused | FAIL
    reason: str = ""  # first sentence (what the table shows)
    message: str = ""  # the whole message (what tests read)


def first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return re.split(r"(?<=[.!?])\s+(?=[A-Z'`])", text, maxsplit=1)[0]


def run(spec: dict, dims: int = 2, inputs: int = 1) -> Result:
    """Build ``spec`` at C = CHANNELS for ``dims`` and run it forward and backward on every shape of SHAPES."""
    torch.manual_seed(0)
    try:
        block = sv.build_block(spec, channels=CHANNELS, dims=dims)
    except sv.SpecError as err:
        return Result("refused", first_sentence(err), str(err))
    block.train()
    for shape in SHAPES[dims]:
        xs = [torch.randn(shape, requires_grad=True) for _ in range(inputs)]
        try:
            y = block(*xs)
            y.sum().backward()
        except Exception as err:  # noqa: BLE001 -- any run-time error is what the matrix reports
            return Result("FAIL", f"{shape}: {type(err).__name__}: {first_sentence(err)}", str(err))
        grads = [x.grad for x in xs] + [p.grad for p in block.parameters() if p.grad is not None]
        if y.shape != xs[0].shape or not torch.isfinite(y).all() or any(not torch.isfinite(g).all() for g in grads):
            return Result("FAIL", f"{shape}: output {tuple(y.shape)} or its gradients are not finite / not x's shape")
    return Result("ok")


def fusion_excites() -> list[str]:
    return [e for e in sv.EXCITE.names() if getattr(sv.EXCITE.get(e), "supports_branches", False)]


@functools.cache
def results() -> dict[str, dict]:
    """``{"se": {(squeeze, excite, gate, dims): Result}, "fusion": {(squeeze, excite, gate): Result},
    "squeeze": {(squeeze, dims): Result of building the squeeze alone}}``, computed once per process."""
    se = {(s, e, g, d): run({"squeeze": s, "excite": e, "gate": g}, d)
          for d in DIMS for g in sv.GATE.names() for s in sv.SQUEEZE.names() for e in sv.EXCITE.names()}
    fusion = {(s, e, g): run({"name": "fusion", "inputs": FUSION_INPUTS, "squeeze": s, "excite": e, "gate": g},
                             inputs=FUSION_INPUTS)
              for e in fusion_excites() for s in sv.SQUEEZE.names() for g in sv.GATE.names()}
    squeeze = {}
    for s in sv.SQUEEZE.names():
        for d in DIMS:
            try:
                sv.SQUEEZE.build(s, CHANNELS, dims=d)
                squeeze[(s, d)] = Result("ok")
            except sv.SpecError as err:
                squeeze[(s, d)] = Result("refused", first_sentence(err), str(err))
    return {"se": se, "fusion": fusion, "squeeze": squeeze}


def shapes_of(squeeze: str) -> tuple[str, str]:
    """Symbolic descriptor and scale shapes of a squeeze's default build, in 2-D where it builds (else the first
    dims that does)."""
    for d in (2, 1, 3):
        try:
            desc = sv.SQUEEZE.build(squeeze, CHANNELS, dims=d).descriptor
        except sv.SpecError:
            continue
        shape = desc.shape()
        return shape, "(N, " + shape.split(", ", 2)[2]
    return "–", "–"


class Notes:
    """Numbered footnotes for reasons, shared by all tables."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def number(self, result: Result) -> int:
        if result.reason not in self.items:
            self.items.append(result.reason)
        return self.items.index(result.reason) + 1

    def cell(self, result: Result) -> str:
        if result.status == "ok":
            return MARK["ok"]
        return f"{MARK[result.status]} {self.number(result)}"

    def cells(self, per_dims: dict[int, Result]) -> str:
        """One cell for the results of several dims: one mark when they agree, else ``1-D ✓, 3-D ✗ n``."""
        values = list(per_dims.values())
        if all(r == values[0] for r in values):
            return self.cell(values[0])
        return ", ".join(f"{d}-D {self.cell(r)}" for d, r in per_dims.items())


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def build_markdown() -> str:
    squeezes, excites, gates = sv.SQUEEZE.names(), sv.EXCITE.names(), sv.GATE.names()
    res = results()
    se, fusion, alone = res["se"], res["fusion"], res["squeeze"]
    notes = Notes()
    counts = {k: sum(r.status == k for r in se.values()) for k in MARK}
    per_dims = {d: sum(r.status == "ok" for k, r in se.items() if k[3] == d) for d in DIMS}
    shapes = "; ".join(f"{d}-D " + ", ".join(str(s).replace(" ", "") for s in SHAPES[d]) for d in DIMS)
    built = {s: [d for d in DIMS if alone[(s, d)].status == "ok"] for s in squeezes}
    out = [
        "# Compatibility matrix: squeeze × excite × gate, on 1-D, 2-D and 3-D inputs",
        "",
        "<!-- Generated by `python scripts/compat_matrix.py` from the registries; do not edit. "
        "tests/test_matrix.py fails when this file is stale. -->",
        "",
        f"Every registered triple is built with its default options at C = {CHANNELS} for dims 1, 2 and 3 and run "
        f"forward and backward in train mode on inputs {shapes}.",
        "✓ builds and runs (output of the input's shape, finite values and gradients) for every dims its squeeze "
        "takes (column *dims*); ✗ n: refused when built, for reason n below; FAIL n: builds but fails at run time "
        "(a bug). A cell reads `2-D ✓, 3-D ✗ n` where the dims differ. Descriptor and scale shapes are the 2-D "
        "ones (3-D for `d`); see se_variants/descriptor.py for every dims.",
        "",
        f"{len(squeezes)} squeeze × {len(excites)} excite × {len(gates)} gate × {len(DIMS)} dims = {len(se)} SE "
        f"blocks: {counts['ok']} run ({', '.join(f'{per_dims[d]} in {d}-D' for d in DIMS)}), {counts['refused']} "
        f"refused, {counts['FAIL']} fail.",
    ]

    def cells(s: str, e: str, g: str) -> dict[int, Result]:
        return {d: se[(s, e, g, d)] for d in built[s]} or {d: se[(s, e, g, d)] for d in DIMS}

    groups: dict[tuple, list[str]] = {}
    for g in gates:
        groups.setdefault(tuple(se[(s, e, g, d)] for s in squeezes for e in excites for d in DIMS), []).append(g)
    for group in groups.values():
        out += ["", f"## SE block, gate {' / '.join(f'`{g}`' for g in group)}", ""]
        grid = {(s, e): cells(s, e, group[0]) for s in squeezes for e in excites}
        flat = {r for per in grid.values() for r in per.values()}
        if len(flat) == 1 and next(iter(flat)).status != "ok":
            out.append(f"Every squeeze × excite pair, every dims: {notes.cell(next(iter(flat)))}.")
            if all(getattr(sv.GATE.get(g), "across_branches", False) for g in group):
                out[-1] += (" A branch gate normalises across the K inputs of a fusion block, so single SE blocks "
                            "refuse it by design; it works in fusion blocks (below).")
            continue
        rows = []
        for s in squeezes:
            desc, scale = shapes_of(s)
            dims = " ".join(str(d) for d in built[s]) or "–"
            missing = [d for d in DIMS if d not in built[s]]
            if missing:
                dims += " (" + ", ".join(f"{d}-D {notes.cell(alone[(s, d)])}" for d in missing) + ")"
            rows.append([f"`{s}`", dims, desc, scale] + [notes.cells(grid[(s, e)]) for e in excites])
        out += table(["squeeze", "dims", "descriptor", "scale"] + [f"`{e}`" for e in excites], rows)

    for e in fusion_excites():
        out += ["", f"## Fusion block (`name: fusion`, inputs: {FUSION_INPUTS}), excite `{e}`, 2-D", "",
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
