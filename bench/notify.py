"""Notification email throughput and latency on the local stack.

emails_per_second: one notify instance (the stack's functions-framework process) handling
    email tasks against the mail sink: task bodies posted CONCURRENCY at a time, as Cloud Tasks
    dispatches them in parallel, from the first request until every email is in the sink.
confirmation_email_p95_ms: from `notifications.booking_changed(booking, "confirmed")` (the
    moment the booking service confirms) to both confirmation emails stored in the mail sink,
    through the Cloud Tasks emulator; p95 over a series of bookings made one after another.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import requests

from bench.common import Row, p95

EMAILS = 200
CONCURRENCY = 8
CONFIRMATIONS = 30
TASK_HEADERS = {"X-CloudTasks-QueueName": "email"}


def _booking(i: int, run: str) -> dict:
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=60, hours=i)
    booking_id = f"bench-{run}-{i}"
    return {
        "id": booking_id, "title": "Bench call", "status": "confirmed", "sequence": 0,
        "start": start, "end": start + timedelta(minutes=30), "reminders": [],
        "organizer": {"name": "Olivia", "email": f"org-{run}-{i}@example.com",
                      "timezone": "Europe/Berlin", "language": "en"},
        "guest": {"name": "Gus", "email": f"guest-{run}-{i}@example.com",
                  "timezone": "Europe/London", "language": "de"},
        "notes": "", "google": {"meet_link": "https://meet.google.com/abc-defg-hij"},
    }


def _sink_count(sink: str, **custom_args) -> int:
    params = [("custom_arg", f"{k}:{v}") for k, v in custom_args.items()]
    return len(requests.get(f"{sink}/api/messages", params=params, timeout=10).json())


def _emails_per_second(urls: dict, run: str) -> float:
    from shared.services import notifications

    bodies = []
    for i in range(EMAILS // 2):
        snapshot = notifications.booking_snapshot(_booking(i, f"tp{run}"))
        for role in ("organizer", "guest"):
            task = notifications.email_task(
                snapshot, "confirmed", role,
                key=notifications.email_key(snapshot, "confirmed", role))
            bodies.append(task.model_dump(mode="json"))
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))

    def post(body: dict) -> int:
        return session.post(f"{urls['notify']}/tasks/email", json=body, headers=TASK_HEADERS,
                            timeout=30).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    sent = sum(_sink_count(urls["mail_sink"], booking_id=f"bench-tp{run}-{i}")
               for i in range(EMAILS // 2))
    if sent != EMAILS or set(statuses) != {200}:
        raise RuntimeError(f"throughput run sent {sent}/{EMAILS}; statuses {set(statuses)}")
    return EMAILS / elapsed


def _confirmation_latencies(urls: dict, run: str) -> list[float]:
    from shared.services import notifications

    latencies = []
    for i in range(CONFIRMATIONS):
        booking = _booking(i, f"lat{run}")
        started = time.perf_counter()
        notifications.booking_changed(booking, "confirmed")
        deadline = started + 30
        while _sink_count(urls["mail_sink"], booking_id=booking["id"]) < 2:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"confirmation emails of {booking['id']} did not arrive")
            time.sleep(0.01)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def run(ctx) -> list[Row]:
    urls = ctx.stack.urls
    run_id = str(int(time.time()))
    requests.delete(f"{urls['mail_sink']}/control/faults", timeout=10)
    rate = _emails_per_second(urls, run_id)
    latencies = _confirmation_latencies(urls, run_id)
    print(f"  {EMAILS} emails at {rate:.1f}/s ({CONCURRENCY} concurrent); confirmation "
          f"median {sorted(latencies)[len(latencies) // 2]:.0f} ms", file=sys.stderr)
    return [
        Row("emails_per_second", "emails/s", 20, round(rate, 1), kind="min"),
        Row("confirmation_email_p95_ms", "ms", 2000, round(p95(latencies)), kind="max"),
    ]
