"""Busy intervals of watched calendars, kept by the sync so slot lookups need not call freeBusy.

The intervals live in the calendar's `sync_state` document (shared/services/sync.py owns it).
A calendar is served from here only while everything that keeps the copy true holds: its watch
channel is live and was not marked failed by the renewal, the last sync succeeded recently, no
notification arrived since that sync began (the copy would be behind), and the asked window
lies inside what the last full sync covered. Anything else is "unserved": the caller asks
freeBusy, which fails closed, so a calendar that cannot be read is never treated as free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.adapters.firestore import db

# How far ahead a full sync reads; lookups beyond it go to freeBusy. A full sync is run again
# once less than half of it is left.
HORIZON = timedelta(days=180)
# The renewal job syncs every watched calendar hourly; a copy older than this means that safety
# net has stopped, so the copy is no longer trusted.
MAX_STALENESS = timedelta(hours=2)
# A channel this close to its expiration may miss the next change.
CHANNEL_MARGIN = timedelta(minutes=5)
# Above this many upcoming busy events a calendar is not cached (one Firestore document holds
# them; 1 MiB is its limit); lookups use freeBusy for it.
MAX_INTERVALS = 4000

Interval = tuple[datetime, datetime]


@dataclass
class Lookup:
    busy: dict[tuple[str, str], list[Interval]] = field(default_factory=dict)
    unserved: dict[str, list[str]] = field(default_factory=dict)

    @property
    def all_busy(self) -> list[Interval]:
        return sorted(i for intervals in self.busy.values() for i in intervals)


def lookup(
    calendars: dict[str, list[str]], time_min: datetime, time_max: datetime,
    *, now: datetime | None = None,
) -> Lookup:
    """Busy intervals overlapping [time_min, time_max) of the calendars the cache can answer for
    ({google_account_id: [calendar_id]}); the others come back in `unserved`. One Firestore
    batch read, no Google call."""
    from shared.services import sync

    now = now or datetime.now(timezone.utc)
    wanted = [(gid, cid) for gid, cids in calendars.items() for cid in cids]
    answer = Lookup()
    if not wanted:
        return answer
    refs = [sync.state_ref(gid, cid) for gid, cid in wanted]
    states = {snap.id: snap.to_dict() for snap in db().get_all(refs) if snap.exists}
    for (gid, cid), ref in zip(wanted, refs):
        state = states.get(ref.id)
        if state is not None and serves(state, time_min, time_max, now):
            answer.busy[(gid, cid)] = [
                (s, e) for s, e in intervals_of(state) if s < time_max and e > time_min
            ]
        else:
            answer.unserved.setdefault(gid, []).append(cid)
    return answer


def serves(state: dict, time_min: datetime, time_max: datetime, now: datetime) -> bool:
    expiration = state.get("channel_expiration")
    synced = state.get("last_synced_at")
    return bool(
        state.get("in_sync")
        and state.get("cacheable", True)
        and not state.get("channel_failed")
        and expiration and expiration > now + CHANNEL_MARGIN
        and synced and synced > now - MAX_STALENESS
        and state.get("notifications", 0) <= state.get("synced_notifications", 0)
        and state.get("cached_from") and state["cached_from"] <= time_min
        and state.get("cached_until") and time_max <= state["cached_until"]
    )


def intervals_of(state: dict) -> list[Interval]:
    return [(b["start"], b["end"]) for b in state.get("busy") or []]


def merge(
    previous: list[dict] | None, events: list[dict], calendar_tz: str, *,
    now: datetime, until: datetime,
) -> list[dict] | None:
    """The new `busy` list after applying changed events (all events after a full sync, when
    `previous` is None). Entries are {id, start, end}; past ones are dropped. None when the
    calendar has too many events to cache."""
    by_id = {b["id"]: b for b in previous or []}
    for event in events:
        span = busy_interval(event, calendar_tz)
        if span is None or span[0] >= until:
            by_id.pop(event["id"], None)
        else:
            by_id[event["id"]] = {"id": event["id"], "start": span[0], "end": span[1]}
    kept = sorted((b for b in by_id.values() if b["end"] > now), key=lambda b: b["start"])
    return kept if len(kept) <= MAX_INTERVALS else None


def busy_interval(event: dict, calendar_tz: str) -> Interval | None:
    """When an event blocks its calendar, as freeBusy counts it: not cancelled, not marked
    "free" (transparent), not declined by the calendar's owner, not a working-location note."""
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return None
    if event.get("eventType") == "workingLocation":
        return None
    if any(a.get("self") and a.get("responseStatus") == "declined"
           for a in event.get("attendees") or []):
        return None
    return event_span(event, calendar_tz)


def event_span(event: dict, calendar_tz: str) -> Interval | None:
    """An event's [start, end) in UTC; None when it has no usable times."""
    start, end = _when(event.get("start"), calendar_tz), _when(event.get("end"), calendar_tz)
    if start is None or end is None or end <= start:
        return None
    return start, end


def _when(value: dict | None, calendar_tz: str) -> datetime | None:
    if not value:
        return None
    if value.get("dateTime"):
        return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00")).astimezone(
            timezone.utc)
    if value.get("date"):
        # All-day events block whole days of the calendar's own zone.
        try:
            zone = ZoneInfo(value.get("timeZone") or calendar_tz or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        day = date.fromisoformat(value["date"])
        return datetime.combine(day, time(0), zone).astimezone(timezone.utc)
    return None
