"""Half-open time ranges [start, end) and the index that answers "is this range free?".

Ranges are plain `(start, end)` tuples of aware datetimes. The index keeps merged ranges as
epoch seconds, so a lookup is two bisects on floats; building it is one sort. This is what keeps
slot computation linear in the number of busy ranges (see shared/domain/slots.py).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

Range = tuple[datetime, datetime]

# Dates outside these years are typos or probes. Refusing them where they come in keeps the
# date arithmetic after it (ranges, durations, zone shifts) clear of datetime's limits.
YEARS = (2000, 2999)


def within_years(value: date) -> bool:
    return YEARS[0] <= value.year <= YEARS[1]


def subtract(ranges: Iterable[Range], hole: Range) -> list[Range]:
    """`ranges` with `hole` cut out of each of them."""
    out: list[Range] = []
    hole_start, hole_end = hole
    for start, end in ranges:
        if end <= hole_start or start >= hole_end:
            out.append((start, end))
            continue
        if start < hole_start:
            out.append((start, hole_start))
        if end > hole_end:
            out.append((hole_end, end))
    return out


class BusyIndex:
    """Merged busy ranges, queried for overlap in O(log n)."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, ranges: Iterable[Range]):
        spans = sorted((s.timestamp(), e.timestamp()) for s, e in ranges if e > s)
        starts: list[float] = []
        ends: list[float] = []
        for start, end in spans:
            if ends and start <= ends[-1]:
                if end > ends[-1]:
                    ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    def overlaps_ts(self, start: float, end: float) -> bool:
        # Merged ranges are disjoint, so their ends are sorted as well: the first range ending
        # after `start` is the only candidate for an overlap.
        i = bisect_right(self._ends, start)
        return i < len(self._starts) and self._starts[i] < end

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.overlaps_ts(start.timestamp(), end.timestamp())


def parse_hhmm(value: str) -> int:
    """Minutes after midnight of "HH:MM"; "24:00" is the end of the day."""
    hours, _, minutes = value.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{value!r} is not a time of day like 09:30")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > 24 * 60:
        raise ValueError(f"{value!r} is not a time of day between 00:00 and 24:00")
    return total


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant at `minutes` after midnight of `day` on the wall clock of `zone`.

    Wall-clock arithmetic, not elapsed time: 17:00 on a DST day is 17:00 local. A wall time that
    does not exist (the hour skipped in spring) maps to the same instant as the offset before the
    change, as zoneinfo does with fold=0.
    """
    extra_days, minutes = divmod(minutes, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra_days), time(minutes // 60, minutes % 60),
                             tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC"))


def local_dates(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """Every calendar date in `zone` that [start, end) touches."""
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
