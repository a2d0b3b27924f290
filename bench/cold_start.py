"""cold_start_import_ratio: importing a function's entry module in a fresh interpreter, divided
by importing google.cloud.firestore alone, median of several runs each, measured in one run.

A ratio keeps the figure independent of the machine's speed: the target says an entry point may
cost at most 1.5x the one library every function needs anyway.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Row

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
FUNCTIONS = ("oauth", "booking", "webhook", "notify")


def _import_seconds(code: str) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _entry_import(fn: str) -> str:
    # Imported the way functions-framework does: main.py as a module from its own directory.
    return (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('main', 'functions/{fn}/main.py');"
        "module = importlib.util.module_from_spec(spec); sys.modules['main'] = module;"
        "spec.loader.exec_module(module)"
    )


def run(ctx) -> list[Row]:
    baseline = _import_seconds("import google.cloud.firestore")
    ratios = {fn: _import_seconds(_entry_import(fn)) / baseline for fn in FUNCTIONS}
    worst = max(ratios, key=ratios.get)
    print(f"  firestore import {baseline * 1000:.0f} ms; ratios "
          + ", ".join(f"{fn} {r:.2f}" for fn, r in ratios.items()) + f"; worst {worst}",
          file=sys.stderr)
    return [Row("cold_start_import_ratio", "ratio", 1.5, round(ratios[worst], 2))]
