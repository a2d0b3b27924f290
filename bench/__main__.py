"""`make bench`: run every benchmark module in bench/ and print one table.

Each module (bench/<name>.py) defines `run(ctx) -> list[Row]`. Modules that need the local
stack ask `ctx.stack`, which starts it once (free ports) for the whole run. Rows are printed as
a table and written to .local/bench.json as a list of {name, unit, target, measured, met}.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

from bench.common import Context, Row

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("cold_start",)  # the platform's row first, the rest alphabetically


def _modules(selected: list[str]) -> list[str]:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name not in ("common",) and not m.name.startswith("_")
    )
    names.sort(key=lambda n: (n not in ORDER, ORDER.index(n) if n in ORDER else 0, n))
    return [n for n in names if not selected or n in selected]


def _print(rows: list[Row]) -> None:
    header = ("figure", "unit", "target", "measured", "met")
    table = [header] + [
        (r.name, r.unit, r.target_text, r.measured_text, "yes" if r.met else "NO") for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print("  ".join(str(cell).ljust(widths[j]) for j, cell in enumerate(line)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    # The product's INFO logs of in-process calls would interleave with the table.
    os.environ.setdefault("CALBRIDGE_LOG_LEVEL", "WARNING")
    ctx = Context(log_dir=Path(tempfile.mkdtemp(prefix="calbridge-bench-")))
    rows: list[Row] = []
    failed = False
    try:
        for name in _modules(sys.argv[1:]):
            module = importlib.import_module(f"bench.{name}")
            print(f"running bench/{name}.py …", file=sys.stderr)
            try:
                rows.extend(module.run(ctx))
            except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
                traceback.print_exc()
                failed = True
    finally:
        ctx.close()
    _print(rows)
    out = ROOT / ".local" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    print(f"\nwrote {os.path.relpath(out, ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
