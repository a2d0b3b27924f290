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


def format_datetime(value: datetime, tz: str, lang: str, fmt: str = "full_time") -> str:
    """`value` in zone `tz`, e.g. "Monday, 30 November 2026, 10:00 (Europe/Berlin)"."""
    from babel.dates import format_date, format_time

    local = value.astimezone(ZoneInfo(tz))
    if fmt == "time":
        return format_time(local, "short", locale=lang)
    if fmt == "date":
        return format_date(local, "full", locale=lang)
    return f"{format_date(local, 'full', locale=lang)}, {format_time(local, 'short', locale=lang)} ({tz})"
