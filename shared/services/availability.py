"""Busy time of an account and the free slots of its event types.

Busy = Google free/busy of every conflict calendar of every connected Google account + the
account's active bookings (padded with their buffers). Google is asked once per Google account
per ≤90-day window (freeBusy takes many calendars per call; longer ranges are refused by Google),
with the accounts queried in parallel. Slot lookups read the calendars whose busy cache is live
and in sync from the cache instead (shared/services/busy_cache.py, kept by the sync); booking
confirmation always asks Google (`live=True`).

Fail closed: if any conflict calendar cannot be read — an error entry inside Google's 200
answer, a failed call, a revoked connection — no slot is offered and no booking is confirmed,
with CalendarUnavailable saying why. Offering a time that may be busy is the worse failure.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared import errors
from shared.adapters.firestore import db
from shared.adapters.google_calendar import parse_rfc3339
from shared.domain.slots import Rules, free_slots
from shared.domain.timeranges import Range, local_instant, subtract
from shared.logs import get_logger, log
from shared.services import busy_cache, google_accounts
from shared.services.organizer import Organizer

logger = get_logger("availability")

BOOKINGS = "bookings"
FREEBUSY_MAX_DAYS = 90
PARALLEL_CALLS = 32
UNREADABLE = ("Google could not report whether the organizer is free; no times are offered "
              "until every calendar checked for conflicts can be read. Please try again later.")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """One pool per process for the calls a lookup makes in parallel: its threads live on,
    and with them their kept-alive connections to Google (shared/adapters/google_calendar.py).
    Its tasks never wait for each other, so requests sharing it only queue, never deadlock."""
    return ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="availability")


def _windows(start: datetime, end: datetime) -> list[Range]:
    step = timedelta(days=FREEBUSY_MAX_DAYS)
    cuts = []
    while start < end:
        cuts.append((start, min(start + step, end)))
        start += step
    return cuts


def _freebusy(ga: google_accounts.GoogleAccount, calendar_ids: list[str], start: datetime,
              end: datetime) -> list[Range]:
    gid = ga.id
    try:
        client = google_accounts.calendar_client(ga)
        busy: list[Range] = []
        for window_start, window_end in _windows(start, end):
            answer = client.freebusy(calendar_ids, window_start, window_end)
            for calendar_id in calendar_ids:
                entry = answer.get(calendar_id)
                if entry is None or entry.get("errors"):
                    reasons = [e.get("reason", "") for e in (entry or {}).get("errors", [])]
                    log(logger, logging.WARNING, "free/busy error for a conflict calendar",
                        google_account_id=gid, calendar_id=calendar_id,
                        reasons=reasons or ["missing from the answer"])
                    raise errors.CalendarUnavailable(
                        UNREADABLE, details={"reason": ",".join(reasons) or "missing"})
                busy.extend((parse_rfc3339(b["start"]), parse_rfc3339(b["end"]))
                            for b in entry.get("busy", []))
        return busy
    except errors.CalendarAuthRevoked:
        raise errors.CalendarUnavailable(
            "The organizer's Google account must be reconnected before times can be offered.",
            code="google_reconnect_needed") from None
    except errors.CalendarUnavailable:
        raise
    except errors.UpstreamUnavailable as exc:
        log(logger, logging.WARNING, "free/busy call failed", google_account_id=gid,
            error=exc.message)
        raise errors.CalendarUnavailable(UNREADABLE) from None


def google_busy(connected: Iterable[google_accounts.GoogleAccount], start: datetime,
                end: datetime, *, live: bool = False) -> list[Range]:
    """Busy ranges in [start, end) of all conflict calendars of the Google accounts `connected`
    to an account, or CalendarUnavailable. Unless `live`, calendars whose busy cache is in sync
    (shared/services/busy_cache.py) are read from it, and only the others ask Google."""
    accounts: dict[str, google_accounts.GoogleAccount] = {}
    calendars: dict[str, list[str]] = {}
    # One listing serves both the conflict calendars and the check that no broken connection
    # hides some (Connections.conflict_calendars() leaves broken connections out).
    for ga in connected:
        ids = list(ga.conflict_calendar_ids)
        if ids and not ga.connected:
            raise errors.CalendarUnavailable(
                "A Google account whose calendars are checked for conflicts must be reconnected "
                "by the organizer before times can be offered.", code="google_reconnect_needed")
        if ids:
            accounts[ga.id], calendars[ga.id] = ga, ids
    cached: list[Range] = []
    if calendars and not live:
        answer = busy_cache.lookup(calendars, start, end)
        cached, calendars = answer.all_busy, answer.unserved
    if not calendars:
        return cached
    *others, (last_gid, last_ids) = calendars.items()
    futures = [_pool().submit(_freebusy, accounts[gid], ids, start, end) for gid, ids in others]
    mine = _freebusy(accounts[last_gid], last_ids, start, end)
    return cached + [r for future in futures for r in future.result()] + mine


@dataclass(frozen=True)
class Busy:
    ranges: list[Range]
    bookings: list[dict]


def active_bookings(account_id: str, start: datetime, end: datetime, *, now: datetime,
                    exclude: str | None = None) -> list[dict]:
    """Confirmed bookings, and pending ones still within their hold, whose padded range meets
    [start, end)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (db().collection(BOOKINGS)
             .where(filter=FieldFilter("account_id", "==", account_id))
             .where(filter=FieldFilter("block_end", ">", start))
             .where(filter=FieldFilter("block_start", "<", end)))
    found = []
    for snap in query.stream():
        booking = snap.to_dict()
        live = booking.get("status") == "confirmed" or (
            booking.get("status") == "pending" and booking.get("hold_until", now) > now)
        if live and snap.id != exclude:
            found.append({"id": snap.id, **booking})
    return found


def busy(organizer: Organizer, start: datetime, end: datetime, *, now: datetime,
         exclude: dict | None = None, whole_days_in: Rules | None = None,
         live: bool = False) -> Busy:
    """Everything that blocks [start, end); `live` asks Google, never the busy cache (booking
    confirmation).

    `exclude` is a booking being moved: its own time (and its own Google event there) does not
    count against its new time. With `whole_days_in` rules that limit bookings per day,
    bookings are read for the whole local days in their zone, so the limit counts bookings
    outside [start, end) on the same days; otherwise only those meeting [start, end) are read.
    """
    first, last = start, end
    if whole_days_in is not None and whole_days_in.max_per_day is not None:
        zone = whole_days_in.zone
        first = min(start, local_instant(start.astimezone(zone).date(), 0, zone))
        last = max(end, local_instant(end.astimezone(zone).date(), 24 * 60, zone))
    # The store query and Google's free/busy are independent: wait for the slower one only.
    stored = _pool().submit(active_bookings, organizer.account_id, first, last, now=now,
                            exclude=exclude["id"] if exclude else None)
    google = google_busy(organizer.connections.accounts, start, end, live=live)
    bookings = stored.result()
    if exclude:
        google = subtract(google, (exclude["start"], exclude["end"]))
    ranges = google + [(b["block_start"], b["block_end"]) for b in bookings]
    return Busy(ranges, bookings)


def slots(organizer: Organizer, start: datetime, end: datetime, *,
          now: datetime | None = None, exclude: dict | None = None) -> list[datetime]:
    """Free start times of the organizer's event type in [start, end)."""
    now = now or _now()
    organizer.default_calendar()  # nowhere to book: say so now
    event_type = organizer.event_type
    rules = Rules.from_event_type(event_type)
    start = max(start, now + timedelta(minutes=rules.min_notice_minutes))
    end = min(end, now + timedelta(days=rules.horizon_days))
    if start >= end:
        return []
    found = busy(organizer, rules.padded(start)[0], rules.padded(end)[1], now=now,
                 exclude=exclude, whole_days_in=rules)
    return free_slots(rules, start=start, end=end, now=now, busy=found.ranges,
                      booked_per_day=booked_per_day(rules, event_type["id"], found.bookings))


def booked_per_day(rules: Rules, event_type_id: str, bookings: list[dict]) -> Counter:
    return Counter(rules.local_day(b["start"]) for b in bookings
                   if b.get("event_type_id") == event_type_id)
