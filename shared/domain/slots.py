"""Which start times an event type offers: working hours minus everything that is busy.

Pure computation over an event type's rules (no I/O). Working hours are wall-clock times in the
event type's zone, so 09:00-17:00 stays 09:00-17:00 local across daylight-saving changes; slots
step by the slot interval in elapsed time from each window's start. A slot is free when the
meeting padded with its buffers overlaps no busy range (Google free/busy and other bookings,
themselves padded with their buffers): the same rule the booking claims enforce
(shared/services/bookings.py).

Cost: one sort of the busy ranges, then one O(log n) bisect per candidate slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from shared.domain.timeranges import BusyIndex, Range, local_dates, local_instant, parse_hhmm

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Window = tuple[int, int]  # minutes after local midnight, [start, end)


@dataclass(frozen=True)
class Rules:
    timezone: str
    duration_minutes: int
    weekly_hours: dict[str, tuple[Window, ...]] = field(default_factory=dict)
    # An override replaces that date's weekly hours; an empty one is a day off.
    date_overrides: dict[date, tuple[Window, ...]] = field(default_factory=dict)
    min_notice_minutes: int = 0
    horizon_days: int = 60
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    slot_interval_minutes: int | None = None
    max_per_day: int | None = None

    @classmethod
    def from_event_type(cls, event_type: dict) -> "Rules":
        def windows(ranges: list[dict]) -> tuple[Window, ...]:
            return tuple((parse_hhmm(r["start"]), parse_hhmm(r["end"])) for r in ranges)

        return cls(
            timezone=event_type["timezone"],
            duration_minutes=event_type["duration_minutes"],
            weekly_hours={d: windows(event_type.get("weekly_hours", {}).get(d, []))
                          for d in WEEKDAYS},
            date_overrides={date.fromisoformat(d): windows(r)
                            for d, r in (event_type.get("date_overrides") or {}).items()},
            min_notice_minutes=event_type.get("min_notice_minutes", 0),
            horizon_days=event_type.get("horizon_days", 60),
            buffer_before_minutes=event_type.get("buffer_before_minutes", 0),
            buffer_after_minutes=event_type.get("buffer_after_minutes", 0),
            slot_interval_minutes=event_type.get("slot_interval_minutes"),
            max_per_day=event_type.get("max_per_day"),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.date_overrides:
            return self.date_overrides[day]
        return self.weekly_hours.get(WEEKDAYS[day.weekday()], ())

    def padded(self, start: datetime) -> Range:
        """The range a meeting starting at `start` occupies, buffers included."""
        return (start - timedelta(minutes=self.buffer_before_minutes),
                start + timedelta(minutes=self.duration_minutes + self.buffer_after_minutes))

    def local_day(self, start: datetime) -> date:
        return start.astimezone(self.zone).date()


def free_slots(
    rules: Rules,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    busy: Iterable[Range] | BusyIndex = (),
    booked_per_day: dict[date, int] | None = None,
) -> list[datetime]:
    """Start times (UTC) in [start, end) that can be booked at `now`."""
    index = busy if isinstance(busy, BusyIndex) else BusyIndex(busy)
    booked_per_day = booked_per_day or {}
    earliest = max(start, now + timedelta(minutes=rules.min_notice_minutes)).timestamp()
    latest = min(end, now + timedelta(days=rules.horizon_days)).timestamp()
    if earliest >= latest:
        return []
    zone = rules.zone
    duration = rules.duration_minutes * 60
    step = (rules.slot_interval_minutes or rules.duration_minutes) * 60
    before = rules.buffer_before_minutes * 60
    after = rules.buffer_after_minutes * 60
    found: list[float] = []
    first, last = (datetime.fromtimestamp(t, timezone.utc) for t in (earliest, latest))
    for day in local_dates(first, last, zone):
        if rules.max_per_day is not None and booked_per_day.get(day, 0) >= rules.max_per_day:
            continue
        for window_start, window_end in rules.windows_on(day):
            t = local_instant(day, window_start, zone).timestamp()
            stop = local_instant(day, window_end, zone).timestamp() - duration
            if t < earliest:
                t += math.ceil((earliest - t) / step) * step
            while t <= stop and t < latest:
                if not index.overlaps_ts(t - before, t + duration + after):
                    found.append(t)
                t += step
    found.sort()
    return [datetime.fromtimestamp(t, timezone.utc) for t in found]


def slot_problem(rules: Rules, start: datetime, now: datetime) -> str | None:
    """Why `start` can never be booked under the rules (busy time aside), or None if it can."""
    if start <= now:
        return "that time is in the past"
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        return f"bookings need at least {rules.min_notice_minutes} minutes' notice"
    if start >= now + timedelta(days=rules.horizon_days):
        return f"bookings can be made at most {rules.horizon_days} days ahead"
    if start not in free_slots(rules, start=start, end=start + timedelta(seconds=1), now=now):
        return "that time is not a start time offered by this event type"
    return None
