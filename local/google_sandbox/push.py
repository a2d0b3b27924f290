"""Asynchronous webhook delivery for watch channels.

Deliveries happen on a background thread so the request that caused a change
returns first (as with Google), and the state lock is never held while a
receiver is slow or down.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time

import requests

from .store import Notification

log = logging.getLogger("google_sandbox.push")

MODES = ("normal", "duplicate", "drop")


class Notifier:
    def __init__(self, timeout: float = 2.0, is_live=None):
        self.timeout = timeout
        # Called right before delivery so channels stopped/expired after the change
        # was queued receive nothing, like Google.
        self.is_live = is_live or (lambda channel_id: True)
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self.mode = "normal"
        self.mode_remaining = -1
        self.delivered_total = 0
        self.failed_total = 0
        self.dropped_total = 0
        self._delivered_mark = 0
        self._failed_mark = 0
        self.log: collections.deque = collections.deque(maxlen=500)
        self._session = requests.Session()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="google-sandbox-push", daemon=True)
        self._thread.start()

    # ---- control -----------------------------------------------------------
    def set_mode(self, mode: str, count: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            self.mode = mode
            # "duplicate" defaults to a single duplicated message; "drop" lasts until reset.
            self.mode_remaining = count if count is not None else (1 if mode == "duplicate" else -1)

    def reset(self) -> None:
        with self._lock:
            self.mode, self.mode_remaining = "normal", -1

    def _consume_mode(self) -> str:
        with self._lock:
            mode = self.mode
            if mode != "normal" and self.mode_remaining > 0:
                self.mode_remaining -= 1
                if self.mode_remaining == 0:
                    self.mode, self.mode_remaining = "normal", -1
            return mode

    # ---- producer side -------------------------------------------------------
    def enqueue(self, batch: list[Notification]) -> None:
        for note in batch:
            mode = self._consume_mode()
            if mode == "drop":
                with self._lock:
                    self.dropped_total += 1
                    self.log.append(self._entry(note, "dropped", None))
                continue
            copies = 2 if mode == "duplicate" else 1
            for _ in range(copies):
                with self._lock:
                    self._in_flight += 1
                self._queue.put(note)

    def flush(self, timeout: float = 15.0) -> dict:
        """Wait until every queued notification has been attempted."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            delivered = self.delivered_total - self._delivered_mark
            failed = self.failed_total - self._failed_mark
            self._delivered_mark, self._failed_mark = self.delivered_total, self.failed_total
            return {
                "delivered": delivered,
                "failed": failed,
                "pending": self._in_flight,
                "delivered_total": self.delivered_total,
                "failed_total": self.failed_total,
                "dropped_total": self.dropped_total,
            }

    def shutdown(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    # ---- worker --------------------------------------------------------------
    def _entry(self, note: Notification, outcome: str, status: int | None, error: str | None = None) -> dict:
        return {
            "time": time.time(),
            "channel_id": note.channel_id,
            "address": note.address,
            "calendar_id": note.calendar_id,
            "resource_state": note.state,
            "message_number": int(note.headers["X-Goog-Message-Number"]),
            "outcome": outcome,
            "status": status,
            "error": error,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            note = self._queue.get()
            if note is None:
                break
            try:
                self._deliver(note)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    if self._in_flight == 0:
                        self._idle.notify_all()

    def _deliver(self, note: Notification) -> None:
        if not self.is_live(note.channel_id):
            with self._lock:
                self.log.append(self._entry(note, "skipped_dead_channel", None))
            return
        headers = dict(note.headers)
        headers["Content-Length"] = "0"
        try:
            resp = self._session.post(note.address, data=b"", headers=headers, timeout=self.timeout,
                                      allow_redirects=False)
            ok = 200 <= resp.status_code < 300
            with self._lock:
                if ok:
                    self.delivered_total += 1
                else:
                    self.failed_total += 1
                self.log.append(self._entry(note, "delivered" if ok else "failed", resp.status_code))
            if not ok:
                log.warning("push to %s for channel %s answered %s", note.address, note.channel_id, resp.status_code)
        except requests.RequestException as exc:
            with self._lock:
                self.failed_total += 1
                self.log.append(self._entry(note, "failed", None, str(exc)))
            log.warning("push to %s for channel %s failed: %s", note.address, note.channel_id, exc)
