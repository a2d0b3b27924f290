"""Two-way sync on the local stack: how fast Google's changes reach bookings, and what the
busy cache and incremental sync cost in Google calls.

sync_propagation_p95_ms: the organizer moves a booked event in the sandbox (as the Google
    user); measured until the booking shows the new time and the sync that moved it has
    finished (its reschedule emails are then queued), through the sandbox's push, the webhook
    function, the Cloud Tasks emulator and the sync task. p95 over a series of moves.
google_calls_per_slot_lookup_live: Google API requests (sandbox request log) made by public slot
    lookups (GET /api/public/{account}/{slug}/slots on the booking function) while the only
    conflict calendar has a live, synced channel; the worst of several lookups.
google_calls_per_incremental_sync: events.list requests caused by one notification carrying
    less than a page of changes; the worst of several notifications.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

import requests

from bench.common import Row, p95

MOVES = 20
LOOKUPS = 10
NOTIFICATIONS = 5
POLL_SECONDS = 0.005
ALL_WEEK = {d: [{"start": "08:00", "end": "20:00"}]
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _day(days: int, hour: int, minute: int = 0) -> datetime:
    day = datetime.now(timezone.utc).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)


def _wait(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the local stack did not reach the expected state")
        time.sleep(POLL_SECONDS)


def _settled(gid: str, calendar_id: str) -> bool:
    from shared.services import sync

    state = sync.state_ref(gid, calendar_id).get().to_dict() or {}
    return bool(state.get("in_sync")) and state.get("notifications", 0) <= state.get(
        "synced_notifications", 0)


def _propagation(urls: dict, account_id: str, gid: str, email: str) -> list[float]:
    from shared.services import bookings
    from tests.helpers import sandbox

    booking = bookings.create_event(
        account_id, title="Bench call", start=_day(2, 9), end=_day(2, 10), meet=False,
        attendee=bookings.GuestIn(name="Bench Guest", email="bench-guest@example.org"))
    event_id = booking["google"]["event_id"]
    sandbox.flush(urls)
    _wait(lambda: _settled(gid, email))
    samples = []
    for i in range(MOVES):
        start = _day(3 + i // 8, 9 + i % 8, 30)
        began = time.perf_counter()
        sandbox.patch_event(urls, email, event_id, {
            "start": {"dateTime": _iso(start)}, "end": {"dateTime": _iso(start + timedelta(hours=1))}})
        _wait(lambda: bookings.get_by_id(booking["id"])["start"] == start
              and _settled(gid, email))
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _slot_lookup_calls(urls: dict, account_id: str, email: str) -> int:
    from shared.services import event_types
    from tests.helpers import sandbox

    event_types.create(account_id, {
        "title": "Bench intro", "slug": "bench-intro", "duration_minutes": 30,
        "timezone": "Europe/Berlin", "weekly_hours": ALL_WEEK, "min_notice_minutes": 0,
        "horizon_days": 30})
    url = f"{urls['booking']}/api/public/{account_id}/bench-intro/slots"
    worst = 0
    for i in range(LOOKUPS):
        first = (datetime.now(timezone.utc).date() + timedelta(days=1 + i)).isoformat()
        before = sandbox.last_request_seq(urls)
        answer = requests.get(url, params={"from": first}, timeout=15)
        answer.raise_for_status()
        assert answer.json()["slots"], "the bench calendar should have free slots"
        worst = max(worst, len(sandbox.requests_since(urls, before, email=email)))
    return worst


def _incremental_sync_calls(urls: dict, gid: str, email: str) -> int:
    from tests.helpers import sandbox

    worst = 0
    for i in range(NOTIFICATIONS):
        before = sandbox.last_request_seq(urls)
        sandbox.create_event(urls, email, {
            "summary": f"Bench busy {i}", "start": _iso(_day(20 + i, 9)),
            "end": _iso(_day(20 + i, 10))})
        sandbox.flush(urls)
        _wait(lambda: _settled(gid, email))
        lists = [r for r in sandbox.requests_since(urls, before, email=email)
                 if r.get("calendar_method") == "calendar.events.list"]
        worst = max(worst, len(lists))
    return worst


def run(ctx) -> list[Row]:
    from shared.services import channels
    from tests.helpers import sandbox

    urls = ctx.stack.urls
    email = sandbox.new_user(urls, "bench-sync")
    account_id, _, gid = sandbox.connect(urls, email)
    channels.ensure_channels(account_id)
    _wait(lambda: _settled(gid, email))

    calls_per_sync = _incremental_sync_calls(urls, gid, email)
    calls_per_lookup = _slot_lookup_calls(urls, account_id, email)
    samples = _propagation(urls, account_id, gid, email)
    print(f"  propagation ms: median {sorted(samples)[len(samples) // 2]:.0f}, "
          f"max {max(samples):.0f} over {len(samples)} moves", file=sys.stderr)
    return [
        Row("sync_propagation_p95_ms", "ms", 1000, round(p95(samples), 1)),
        Row("google_calls_per_slot_lookup_live", "calls", 0, calls_per_lookup, kind="eq"),
        Row("google_calls_per_incremental_sync", "calls", 1, calls_per_sync, kind="eq"),
    ]
