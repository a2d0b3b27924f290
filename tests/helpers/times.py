"""Times booking tests are written in: Berlin wall-clock times some days from today."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
ALL_WEEK = {d: [{"start": "08:00", "end": "20:00"}]
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def berlin(days: int, hhmm: str) -> datetime:
    """`hhmm` in Berlin, `days` after today (there)."""
    h, m = map(int, hhmm.split(":"))
    day = datetime.now(BERLIN).date() + timedelta(days=days)
    return datetime.combine(day, time(h, m), tzinfo=BERLIN)
