"""Injected failures of `POST /v3/mail/send`, for testing how callers cope with SendGrid outages."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

_KEYS = {"failure_rate", "statuses", "seed", "latency_ms", "fail_next", "status"}
MAX_LATENCY_MS = 60_000


class FaultPlanError(ValueError):
    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FaultPlan:
    failure_rate: float = 0.0
    statuses: tuple[int, ...] = (500,)
    seed: int | None = None
    latency_ms: int = 0
    fail_next: int = 0
    status: int = 500

    @classmethod
    def from_json(cls, body: Any) -> FaultPlan:
        if not isinstance(body, dict):
            raise FaultPlanError("The body must be a JSON object.", None)
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            # A misspelt key would otherwise silently configure no faults at all.
            raise FaultPlanError(f"Unknown fields: {', '.join(unknown)}.", unknown[0])
        return cls(
            failure_rate=_number(body, "failure_rate", 0.0, 0.0, 1.0),
            statuses=tuple(_statuses(body.get("statuses", [500]))),
            seed=_integer(body, "seed", None, None, None),
            latency_ms=_integer(body, "latency_ms", 0, 0, MAX_LATENCY_MS),
            fail_next=_integer(body, "fail_next", 0, 0, None),
            status=_status(body.get("status", 500), "status"),
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "statuses": list(self.statuses)}


class FaultInjector:
    """Decides, send by send, whether to fail. Thread-safe, and reproducible given a seed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._rng = random.Random()
        self._fail_next_left = 0
        self._injected = 0

    def configure(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            # A fresh generator per plan: the same seed gives the same failures from here on.
            self._rng = random.Random(plan.seed)
            self._fail_next_left = plan.fail_next

    def clear(self) -> None:
        self.configure(FaultPlan())

    def reset(self) -> None:
        """Clears the plan and the count of failures injected so far."""
        with self._lock:
            self._injected = 0
        self.clear()

    @property
    def latency_ms(self) -> int:
        with self._lock:
            return self._plan.latency_ms

    @property
    def failures_injected(self) -> int:
        with self._lock:
            return self._injected

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {**self._plan.as_json(), "fail_next_remaining": self._fail_next_left,
                    "failures_injected": self._injected}

    def next_failure(self) -> int | None:
        """The status this send must fail with, or None to let it through."""
        with self._lock:
            if self._fail_next_left > 0:
                self._fail_next_left -= 1
                status = self._plan.status
            elif self._plan.failure_rate > 0 and self._rng.random() < self._plan.failure_rate:
                status = self._rng.choice(self._plan.statuses)
            else:
                return None
            self._injected += 1
            return status


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(body: dict[str, Any], key: str, default: int | None, low: int | None,
             high: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return default
    too_low = low is not None and _is_int(value) and value < low
    too_high = high is not None and _is_int(value) and value > high
    if not _is_int(value) or too_low or too_high:
        bounds = f" between {low} and {high}" if high is not None else (
            f" of at least {low}" if low is not None else "")
        raise FaultPlanError(f"{key} must be an integer{bounds}.", key)
    return value


def _number(body: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise FaultPlanError(f"{key} must be a number between {low} and {high}.", key)
    return float(value)


def _status(value: Any, field: str) -> int:
    if not _is_int(value) or not 400 <= value <= 599:
        raise FaultPlanError(f"{field} must be an HTTP error status (400-599).", field)
    return value


def _statuses(value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise FaultPlanError("statuses must be a non-empty array of HTTP error statuses.",
                             "statuses")
    return [_status(status, f"statuses.{i}") for i, status in enumerate(value)]
