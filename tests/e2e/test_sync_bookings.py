"""Bookings follow what the organizer does to their events in Google Calendar: the change is
made as the Google user in the sandbox, Google pushes to the webhook function, the sync task
updates the booking, and the emails arrive in the mail sink."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import sandbox
from tests.helpers.notify import sink_messages

pytestmark = pytest.mark.stack


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _at(days: int, hour: int) -> datetime:
    day = datetime.now(timezone.utc).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


@pytest.fixture
def booked(stack, urls):
    """A watched organizer calendar with one confirmed booking in it."""
    from shared.services import bookings, channels, sync

    email = sandbox.new_user(urls, "organizer")
    account_id, _, gid = sandbox.connect(urls, email)
    channels.ensure_channels(account_id)
    sandbox.wait_for(lambda: (sync.state_ref(gid, email).get().to_dict() or {}).get("in_sync"),
                     what="first sync")
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    booking = bookings.create_event(
        account_id, title="Intro call", start=_at(3, 10), end=_at(3, 11), meet=False,
        attendee=bookings.GuestIn(name="Gus Guest", email=guest))
    sandbox.wait_for(lambda: _emails(urls, booking, "confirmed"), what="confirmation emails")
    return {"booking": booking, "email": email, "guest": guest, "gid": gid,
            "account_id": account_id, "event_id": booking["google"]["event_id"]}


def _booking(booking_id: str) -> dict:
    from shared.services import bookings

    return bookings.get_by_id(booking_id)


def _emails(urls, booking: dict, kind: str) -> list[dict]:
    return sink_messages(urls["mail_sink"], booking_id=booking["id"], kind=kind)


def _roles(messages: list[dict]) -> list[str]:
    return sorted(m["custom_args"]["role"] for m in messages)


def test_event_moved_in_google_reschedules_the_booking_and_tells_both(booked, urls):
    b = booked
    sandbox.patch_event(urls, b["email"], b["event_id"], {
        "start": {"dateTime": _iso(_at(4, 15))}, "end": {"dateTime": _iso(_at(4, 16))}})
    moved = sandbox.wait_for(
        lambda: (lambda x: x if x["start"] == _at(4, 15) else None)(_booking(b["booking"]["id"])),
        what="booking rescheduled")
    assert moved["end"] == _at(4, 16) and moved["sequence"] == b["booking"]["sequence"] + 1
    assert moved["previous"]["start"] == _at(3, 10)
    emails = sandbox.wait_for(lambda: (lambda m: m if len(m) == 2 else None)(
        _emails(urls, moved, "rescheduled")), what="reschedule emails")
    assert _roles(emails) == ["guest", "organizer"]
    # Nothing was written back to Google for a change that came from Google.
    patches = [r for r in sandbox.requests_since(urls, 0, email=b["email"])
               if r.get("calendar_method") in ("calendar.events.patch", "calendar.events.update")]
    assert patches == []


def test_event_deleted_in_google_cancels_the_booking_and_tells_both(booked, urls):
    b = booked
    sandbox.delete_event(urls, b["email"], b["event_id"])
    cancelled = sandbox.wait_for(
        lambda: (lambda x: x if x["status"] == "cancelled" else None)(
            _booking(b["booking"]["id"])), what="booking cancelled")
    assert cancelled["cancelled_by"] == "google"
    emails = sandbox.wait_for(lambda: (lambda m: m if len(m) == 2 else None)(
        _emails(urls, cancelled, "cancelled")), what="cancellation emails")
    assert _roles(emails) == ["guest", "organizer"]


def test_guest_declining_tells_the_organizer_once(booked, urls):
    b = booked
    sandbox.respond(urls, b["email"], b["event_id"], b["guest"], "declined")
    told = sandbox.wait_for(lambda: _emails(urls, b["booking"], "guest_declined"),
                            what="organizer told")
    assert _roles(told) == ["organizer"]
    # A later unrelated change of the event tells nobody again.
    sandbox.patch_event(urls, b["email"], b["event_id"], {"summary": "Intro call (moved room)"})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(b), what="sync after the edit")
    assert sandbox.sync_now(b["gid"], b["email"]).status == "synced"
    assert len(_emails(urls, b["booking"], "guest_declined")) == 1
    assert _booking(b["booking"]["id"])["status"] == "confirmed"


def _synced(b) -> bool:
    from shared.services import sync

    state = sync.state_ref(b["gid"], b["email"]).get().to_dict() or {}
    return state.get("in_sync") and state.get("notifications", 0) <= state.get(
        "synced_notifications", 0)


def test_our_own_reschedule_comes_back_without_a_loop_or_second_email(booked, urls):
    from shared.services import bookings

    b = booked
    moved = bookings.reschedule(b["account_id"], b["booking"]["id"], _at(5, 9), _at(5, 10))
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(b), what="sync of our own write")
    after = _booking(b["booking"]["id"])
    assert after["sequence"] == moved["sequence"] and after["start"] == _at(5, 9)
    sandbox.wait_for(lambda: len(_emails(urls, moved, "rescheduled")) == 2,
                     what="reschedule emails")
    all_rescheduled = sink_messages(urls["mail_sink"], booking_id=moved["id"], kind="rescheduled")
    assert len(all_rescheduled) == 2


def test_duplicate_notifications_change_the_booking_once(booked, urls):
    b = booked
    sandbox.control(urls, "notifications", {"mode": "duplicate", "count": 1})
    sandbox.patch_event(urls, b["email"], b["event_id"], {
        "start": {"dateTime": _iso(_at(6, 8))}, "end": {"dateTime": _iso(_at(6, 9))}})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(b) and _booking(b["booking"]["id"])["start"] == _at(6, 8),
                     what="booking moved")
    assert _booking(b["booking"]["id"])["sequence"] == b["booking"]["sequence"] + 1
    sandbox.wait_for(lambda: len(_emails(urls, _booking(b["booking"]["id"]), "rescheduled")) == 2,
                     what="reschedule emails")
    assert len(sink_messages(urls["mail_sink"], booking_id=b["booking"]["id"],
                             kind="rescheduled")) == 2


def test_google_account_revoked_mid_way_marks_reconnect_and_keeps_the_booking(booked, urls):
    import requests

    from shared.adapters.google_calendar import forget_token
    from shared.services import google_accounts, sync

    b = booked
    sandbox.control(urls, f"users/{b['email']}/revoke")
    sandbox.control(urls, "tokens/expire", {"email": b["email"]})
    forget_token(b["gid"])
    # The organizer still changes the event: the notification arrives, but the sync can no
    # longer read the calendar.
    sandbox.patch_event(urls, b["email"], b["event_id"], {
        "start": {"dateTime": _iso(_at(7, 8))}, "end": {"dateTime": _iso(_at(7, 9))}})
    sandbox.wait_for(lambda: google_accounts.get(b["gid"]).status == "reconnect_needed",
                     what="account marked reconnect needed", timeout=15)
    state = sandbox.wait_for(
        lambda: (lambda s: s if s.get("in_sync") is False else None)(
            sync.state_ref(b["gid"], b["email"]).get().to_dict() or {}),
        what="calendar out of sync")
    assert state["failure"] == "reconnect_needed"
    assert _booking(b["booking"]["id"])["start"] == _at(3, 10)  # nothing guessed
    owner = f"owner-{b['email']}"
    sandbox.wait_for(lambda: requests.get(f"{urls['mail_sink']}/api/messages",
                                          params={"to": owner}, timeout=5).json(),
                     what="reconnect email to the owner")


def test_a_former_default_calendar_stays_watched_while_it_holds_upcoming_bookings(booked, urls):
    from shared.services import bookings, channels, google_accounts, integrations, members

    b = booked
    team = sandbox.control(urls, f"users/{b['email']}/calendars", {"summary": "Team"})
    google_accounts.replace_calendars(
        b["gid"], google_accounts.calendar_client(b["gid"]).list_calendars())
    owner = members.account_owner(b["account_id"])
    # The old default is not checked for conflicts either: only its booking keeps it watched.
    integrations.set_conflict_check(owner, b["gid"], b["email"], False)
    integrations.set_default(owner, b["gid"], team["id"])
    watched = {c.calendar_id for c in channels.of_account(b["account_id"])}
    assert watched == {b["email"], team["id"]}  # the booking's event stays in the old default

    # A move there in Google still reaches the booking.
    sandbox.patch_event(urls, b["email"], b["event_id"], {
        "start": {"dateTime": _iso(_at(4, 8))}, "end": {"dateTime": _iso(_at(4, 9))}})
    sandbox.wait_for(lambda: _booking(b["booking"]["id"])["start"] == _at(4, 8),
                     what="booking rescheduled from the former default calendar")

    # Once it holds no upcoming booking, the renewal stops watching it instead of renewing.
    bookings.cancel(b["account_id"], b["booking"]["id"])
    report = channels.renew_expiring(within=timedelta(days=30))
    assert report["reconciled"] >= 1  # other tests' accounts share the database
    assert {c.calendar_id for c in channels.of_account(b["account_id"])} == {team["id"]}
    live_in_google = {c["calendarId"] for c in sandbox.channels(urls) if c["live"]}
    assert team["id"] in live_in_google and b["email"] not in live_in_google
