"""A booking's life through the real booking service, seen from the mail sink: confirmation,
reschedule and cancellation reach organizer and guest, the guest's .ics keeps its UID and raises
its SEQUENCE, and the guest's links in the email open that booking."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time, timedelta, timezone
from urllib.parse import unquote, urlparse

import icalendar
import pytest
import requests

from shared.services import bookings, event_types, guest_links, organizer
from tests.helpers import sandbox
from tests.helpers.times import ALL_WEEK
from tests.helpers.notify import wait_for_messages

pytestmark = pytest.mark.stack


def _slot(days: int, hour: int) -> datetime:
    day = datetime.now(timezone.utc).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def _ics(sink: str, message: dict):
    detail = requests.get(f"{sink}/api/messages/{message['id']}", timeout=10).json()
    (attachment,) = detail["attachment_files"]
    raw = requests.get(f"{sink}{attachment['url']}", timeout=10).content
    (event,) = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    return detail, icalendar.Calendar.from_ical(raw), event


def _by_role(found: list[dict]) -> dict[str, dict]:
    return {m["custom_args"]["role"]: m for m in found}


def test_booking_lifecycle_emails(stack, urls):
    sink = urls["mail_sink"]
    email = sandbox.new_user(urls, "mail")
    account_id, _, _ = sandbox.connect(urls, email)
    event_types.create(account_id, {
        "title": "Intro call", "slug": "intro", "duration_minutes": 30,
        "timezone": "Europe/Berlin", "weekly_hours": ALL_WEEK, "min_notice_minutes": 0,
        "horizon_days": 30})
    guest = bookings.GuestIn(name="Gina <Guest>", email=f"gina-{uuid.uuid4().hex[:8]}@example.org",
                             timezone="America/New_York", language="en")
    booking = bookings.book(organizer.load(account_id, slug="intro"), start=_slot(3, 10),
                            guest=guest, notes="Hi & <bye>")

    confirmed = _by_role(wait_for_messages(sink, 2, booking_id=booking["id"]))
    assert set(confirmed) == {"organizer", "guest"}
    assert confirmed["organizer"]["to"] == [booking["organizer"]["email"]]
    to_organizer = requests.get(f"{sink}/api/messages/{confirmed['organizer']['id']}",
                                timeout=10).json()
    assert booking["google"]["html_link"].startswith("https://www.google.com/calendar/event?")
    assert f"Open in Google Calendar: {booking['google']['html_link']}" in to_organizer["text"]
    detail, cal, event = _ics(sink, confirmed["guest"])
    assert str(cal["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == booking["sequence"]
    uid = str(event["UID"])
    assert "Hi &amp; &lt;bye&gt;" in detail["html"] and "Gina &lt;Guest&gt;" in detail["html"]
    # the guest's reschedule link names this booking and is signed for its current sequence
    link = re.search(r"Reschedule: (\S+)", detail["text"]).group(1)
    assert link.startswith(urls["booking"])
    token = unquote(urlparse(link).path.rsplit("/", 1)[-1])
    assert guest_links.resolve(token, guest_links.RESCHEDULE)["id"] == booking["id"]

    moved = bookings.reschedule(account_id, booking["id"], _slot(4, 11))
    rescheduled = _by_role(wait_for_messages(sink, 2, booking_id=booking["id"],
                                             kind="rescheduled"))
    detail, cal, event = _ics(sink, rescheduled["guest"])
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == moved["sequence"]
    assert moved["sequence"] > booking["sequence"]
    assert "Previously:" in detail["text"]

    cancelled_booking = bookings.cancel(account_id, booking["id"], by="guest", reason="Ill")
    cancelled = _by_role(wait_for_messages(sink, 2, booking_id=booking["id"], kind="cancelled"))
    detail, cal, event = _ics(sink, cancelled["guest"])
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == cancelled_booking["sequence"]
    organizer_text = requests.get(f"{sink}/api/messages/{cancelled['organizer']['id']}",
                                  timeout=10).json()["text"]
    assert "Gina <Guest> cancelled the booking." in organizer_text and "Reason: Ill" in organizer_text
    assert len(wait_for_messages(sink, 6, timeout=1, booking_id=booking["id"])) == 6
