#!/usr/bin/env python
"""Write the config files generated from the registries (configs/squeeze, excite, gate, block presets).

    python scripts/gen_configs.py             # rewrite configs/ in this checkout, drop stale generated files
    python scripts/gen_configs.py --check     # exit 1 and list the files that differ (CI / tests)
    python scripts/gen_configs.py --out DIR --imports my_pkg.ops   # files for your own ops, in your config dir
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from se_variants.runner.gen import GENERATED_MARK, generated_files

ROOT = Path(__file__).resolve().parents[1] / "configs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT, help="config folder to write (default: configs/)")
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    parser.add_argument("--imports", nargs="*", default=[], help="modules that register your own ops")
    args = parser.parse_args(argv)
    for module in args.imports:
        try:
            importlib.import_module(module)
        except ImportError as err:
            print(f"gen_configs: cannot import {module!r} ({err}); put it on PYTHONPATH.", file=sys.stderr)
            return 2
    files = generated_files()
    if args.out.resolve() != ROOT.resolve():  # your config dir: only what the packaged configs/ lacks (your ops)
        files = {rel: text for rel, text in files.items() if not (ROOT / rel).is_file()}
    stale = [p for p in sorted(args.out.glob("*/*.yaml"))
             if p.relative_to(args.out).as_posix() not in files and p.read_text().startswith(GENERATED_MARK)
             and args.out.resolve() == ROOT.resolve()]
    changed = [rel for rel, text in files.items()
               if not (args.out / rel).is_file() or (args.out / rel).read_text() != text]
    if args.check:
        for rel in changed:
            print(f"out of date: {args.out / rel}")
        for path in stale:
            print(f"stale (no such registered name): {path}")
        return 1 if changed or stale else 0
    for rel in changed:
        (args.out / rel).parent.mkdir(parents=True, exist_ok=True)
        (args.out / rel).write_text(files[rel])
    for path in stale:
        path.unlink()
    print(f"{len(changed)} written, {len(stale)} removed, {len(files) - len(changed)} unchanged under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
