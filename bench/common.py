"""What benchmarks share: the row type and a lazily started local stack."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    name: str
    unit: str
    target: float
    measured: float
    # "max": measured must be <= target; "min": >= target; "eq": == target
    kind: str = "max"

    @property
    def met(self) -> bool:
        if self.kind == "min":
            return self.measured >= self.target
        if self.kind == "eq":
            return self.measured == self.target
        return self.measured <= self.target

    @property
    def target_text(self) -> str:
        op = {"max": "<=", "min": ">=", "eq": "=="}[self.kind]
        return f"{op} {self.target:g}"

    @property
    def measured_text(self) -> str:
        return f"{self.measured:.3g}" if isinstance(self.measured, float) else str(self.measured)

    def as_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, "target": self.target_text,
                "measured": self.measured, "met": self.met}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


class Context:
    def __init__(self, log_dir: Path):
        self._log_dir = log_dir
        self._stack = None

    @property
    def stack(self):
        if self._stack is None:
            from local.stack import Stack

            stack = Stack(random_ports=True, log_dir=self._log_dir)
            os.environ.update(stack.env())
            stack.start()
            self._stack = stack
        return self._stack

    def close(self) -> None:
        if self._stack is not None:
            self._stack.stop()
