"""The guest's links to cancel, reschedule or view a booking, carried by every guest email.

A link holds a token signed with the signing key (itsdangerous, its own salt) naming the booking,
the action and the booking's `sequence` at signing time. Nothing is stored: a token is

- forged or altered: the signature fails;
- expired: older than MAX_AGE, or the meeting has started (nothing left to cancel or move);
- used: once acted upon, the booking's sequence moved on (a reschedule) or it is cancelled, so
  the token no longer matches. The emails sent after a change carry fresh links.

Opening a link never changes anything; only the confirmation form (POST) does, so link
previews and mail scanners that fetch URLs cannot cancel a booking.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from shared import errors, secrets
from shared.config import settings
from shared.services import bookings

CANCEL = "cancel"
RESCHEDULE = "reschedule"
VIEW = "view"
ACTIONS = (CANCEL, RESCHEDULE, VIEW)
MAX_AGE = timedelta(days=400)  # beyond any booking horizon


@functools.cache
def _serializer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secrets.get(secrets.SIGNING_KEY), salt="calbridge-guest-link")


def token(booking: dict, action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown guest link action {action!r}")
    return _serializer().dumps({"b": booking["id"], "a": action, "s": booking["sequence"]})


def _url(booking: dict, action: str) -> str:
    lang = (booking.get("guest") or {}).get("language", "en")
    return f"{settings().booking_url}/b/{action}/{quote(token(booking, action))}?lang={lang}"


def cancel_url(booking: dict) -> str:
    return _url(booking, CANCEL)


def reschedule_url(booking: dict) -> str:
    return _url(booking, RESCHEDULE)


def view_url(booking: dict) -> str:
    return _url(booking, VIEW)


def calendar_file_url(booking: dict) -> str:
    """The booking as an .ics download (a view link: it changes nothing)."""
    return f"{settings().booking_url}/b/view/{quote(token(booking, VIEW))}/calendar.ics"


def resolve(raw: str, action: str, *, now: datetime | None = None) -> dict:
    """The booking a link may act on, or a 4xx saying why the link cannot be used."""
    from itsdangerous import BadSignature, SignatureExpired

    now = now or datetime.now(timezone.utc)
    invalid = errors.NotFound(
        "This link is not valid. Please use the link from your latest email.", code="invalid_link")
    try:
        payload = _serializer().loads(raw, max_age=MAX_AGE.total_seconds())
    except SignatureExpired:
        raise errors.Gone("This link has expired.", code="link_expired") from None
    except BadSignature:
        raise invalid from None
    if not isinstance(payload, dict) or payload.get("a") != action:
        raise invalid
    booking = bookings.get_by_id(str(payload.get("b", "")))
    if booking is None or booking.get("status") not in (bookings.CONFIRMED, bookings.CANCELLED):
        raise invalid
    if action == VIEW:
        return booking
    if booking["status"] == bookings.CANCELLED:
        raise errors.Gone("This booking has already been cancelled.", code="link_used")
    if booking["sequence"] != payload.get("s"):
        raise errors.Gone("This booking has been changed since this link was sent. Please use the "
                          "link from your latest email.", code="link_used")
    if booking["start"] <= now:
        raise errors.Gone("This meeting has already started, so it can no longer be changed.",
                          code="link_expired")
    return booking
