"""RFC 3339 helpers matching how the Calendar API reads and writes times."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def valid_zone(name: str) -> bool:
    try:
        zone(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def parse_rfc3339(value: str, default_tz: str | None = None) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    A missing offset is only legal when a time zone name is supplied (that is
    how event start/end with an explicit ``timeZone`` work); otherwise raise.
    """
    m = _RFC3339.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"invalid RFC3339 timestamp: {value!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    naive = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro)
    if off is None:
        if not default_tz:
            raise ValueError(f"timestamp without offset: {value!r}")
        aware = naive.replace(tzinfo=zone(default_tz))
    elif off in ("Z", "z"):
        aware = naive.replace(tzinfo=timezone.utc)
    else:
        sign = 1 if off[0] == "+" else -1
        digits = off[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        aware = naive.replace(tzinfo=timezone(sign * delta))
    return aware.astimezone(timezone.utc)


def parse_date(value: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"invalid date: {value!r}")
    return date.fromisoformat(value)


def start_of_day(d: date, tz_name: str) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=zone(tz_name)).astimezone(timezone.utc)


def format_utc_millis(dt: datetime) -> str:
    """'2024-05-01T10:00:00.123Z' - the format of created/updated."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def format_utc(dt: datetime) -> str:
    """'2024-05-01T10:00:00Z' - the format freeBusy uses for UTC."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_in_zone(dt: datetime, tz_name: str | None) -> str:
    """'2024-05-01T12:00:00+02:00' - how event times are rendered."""
    if not tz_name:
        return format_utc(dt)
    local = dt.astimezone(zone(tz_name))
    text = local.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if tz_name in ("UTC", "Etc/UTC") else text


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def rfc1123(ts: float) -> str:
    return format_datetime(from_epoch(ts), usegmt=True)
