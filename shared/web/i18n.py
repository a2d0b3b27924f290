"""German and English for pages and emails.

Messages are keyed by their English text (gettext style), so a missing German entry shows English
instead of a key. The catalogue is a Python dict rather than compiled .mo files: the product has
two languages and a few hundred strings, and a dict needs no build step in the function archive.
Dates and times are formatted by Babel with the reader's locale and time zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"

_CATALOG: dict[str, dict[str, str]] = {"de": {}}


def register(german: dict[str, str]) -> None:
    """Feature modules add their German strings next to their templates."""
    _CATALOG["de"].update(german)


def normalize(lang: str | None) -> str:
    lang = (lang or "").lower()[:2]
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def negotiate(request) -> str:
    """?lang= wins, then the lang cookie, then Accept-Language."""
    explicit = request.args.get("lang") or request.cookies.get("lang")
    if explicit and explicit.lower()[:2] in LANGUAGES:
        return explicit.lower()[:2]
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or "en"


def gettext(lang: str, message: str, **values) -> str:
    text = _CATALOG.get(lang, {}).get(message, message)
    return text.format(**values) if values else text


def zone_name(tz: str, lang: str) -> str:
    """e.g. "Central European Time (Europe/Berlin)": the name people know, and the exact zone."""
    from babel.dates import get_timezone_name

    if tz == "UTC":
        # Babel has no generic name for UTC ("Unknown Region (UTC) Time"); its long one fits.
        return f"{get_timezone_name(datetime.now(ZoneInfo(tz)), 'long', locale=lang)} (UTC)"
    return f"{get_timezone_name(ZoneInfo(tz), locale=lang)} ({tz})"


def zone_city(tz: str, lang: str) -> str:
    """The zone's city in the reader's language ("New York", "Tokio"), short enough for a
    subject line."""
    from babel.dates import get_timezone_location

    return "UTC" if tz == "UTC" else get_timezone_location(ZoneInfo(tz), locale=lang,
                                                           return_city=True)


def format_datetime(value: datetime, tz: str, lang: str, fmt: str = "full_time") -> str:
    """`value` in zone `tz`: "time" (10:00), "date" (Monday, 30 November 2026), "day" (Mon),
    "short_date" (30 Nov), "medium" (30 Nov 2026, 10:00 (Berlin)) or the full date and time
    with the zone named."""
    from babel.dates import format_date, format_skeleton, format_time

    local = value.astimezone(ZoneInfo(tz))
    if fmt == "time":
        return format_time(local, "short", locale=lang)
    if fmt == "date":
        return format_date(local, "full", locale=lang)
    if fmt == "day":
        return format_date(local, "EEE", locale=lang)
    if fmt == "short_date":
        return format_skeleton("MMMd", local, locale=lang)
    if fmt == "medium":
        return (f"{format_date(local, 'medium', locale=lang)}, "
                f"{format_time(local, 'short', locale=lang)} ({zone_city(tz, lang)})")
    return (f"{format_date(local, 'full', locale=lang)}, {format_time(local, 'short', locale=lang)}"
            f" {zone_name(tz, lang)}")


def format_range(start: datetime, end: datetime, tz: str, lang: str) -> str:
    """e.g. "Monday, 30 November 2026, 10:00–10:30 Central European Time (Europe/Berlin)"."""
    from babel.dates import format_date, format_time

    zone = ZoneInfo(tz)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.date() == local_end.date():
        return (f"{format_date(local_start, 'full', locale=lang)}, "
                f"{format_time(local_start, 'short', locale=lang)}–"
                f"{format_time(local_end, 'short', locale=lang)} {zone_name(tz, lang)}")
    return (f"{format_date(local_start, 'full', locale=lang)}, "
            f"{format_time(local_start, 'short', locale=lang)} – "
            f"{format_date(local_end, 'full', locale=lang)}, "
            f"{format_time(local_end, 'short', locale=lang)} {zone_name(tz, lang)}")
