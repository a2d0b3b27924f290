"""What one running sink holds: its API key, the stored messages, the fault plan, counters."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from .faults import FaultInjector
from .store import MessageStore


@dataclass
class SinkState:
    api_key: str
    store: MessageStore
    faults: FaultInjector = field(default_factory=FaultInjector)
    _requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_request(self) -> None:
        with self._lock:
            self._requests += 1

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def reset(self) -> None:
        self.store.clear()
        self.faults.reset()
        with self._lock:
            self._requests = 0


def get_state() -> SinkState:
    return current_app.extensions["mail_sink"]
