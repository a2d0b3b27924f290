"""Availability and bookings against the emulators and the Google sandbox: free/busy from every
conflict calendar (one call per Google account, failing closed), the booking claims, the Google
event with Meet, reschedule/cancel in both directions, guest links, and Google failures."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from shared import errors
from shared.adapters.firestore import db
from shared.services import availability, bookings, event_types, google_accounts, guest_links
from shared.services.organizer import load as load_organizer
from tests.helpers import sandbox
from tests.helpers.times import ALL_WEEK, BERLIN, berlin



def at(days: int, hhmm: str) -> datetime:
    return berlin(days, hhmm).astimezone(timezone.utc)


class Organizer:
    def __init__(self, urls, **event_type):
        self.urls = urls
        self.email = sandbox.new_user(urls, "book")
        self.account_id, self.key, self.gid = sandbox.connect(urls, self.email)
        self.event_type = event_types.create(self.account_id, {
            "title": "Intro call", "slug": "intro", "duration_minutes": 30,
            "timezone": "Europe/Berlin", "weekly_hours": ALL_WEEK, "min_notice_minutes": 0,
            "horizon_days": 30, **event_type})

    def guest(self, name="Gina Guest") -> bookings.GuestIn:
        return bookings.GuestIn(name=name, email=f"gina-{uuid.uuid4().hex[:8]}@example.org",
                                timezone="America/New_York", language="en")

    def book(self, start, **kw):
        return bookings.book(self.loaded(), start=start, guest=kw.pop("guest", self.guest()),
                             **kw)

    def loaded(self, slug: str = "intro"):
        return load_organizer(self.account_id, slug=slug)

    def slots(self, start, end):
        return availability.slots(self.loaded(), start, end)

    def google_event(self, event_id, calendar_id=None):
        r = requests.get(f"{self.urls['google_sandbox']}/control/calendars/"
                         f"{calendar_id or self.email}/events", timeout=10)
        r.raise_for_status()
        return next((e for e in r.json()["items"] if e["id"] == event_id), None)

    def calls(self, seq):
        return [r for r in sandbox.requests_since(self.urls, seq)
                if r.get("calendar_method") and r.get("email") in (self.email, None)]


@pytest.fixture
def org(stack, urls):
    return Organizer(urls)


def test_google_busy_time_removes_slots(org, urls):
    sandbox.create_event(urls, org.email, {
        "summary": "Dentist", "start": {"dateTime": at(2, "10:00").isoformat()},
        "end": {"dateTime": at(2, "11:00").isoformat()}})
    free = org.slots(at(2, "08:00"), at(2, "20:00"))
    assert at(2, "09:30") in free and at(2, "11:00") in free
    assert at(2, "10:00") not in free and at(2, "10:30") not in free


def test_one_freebusy_per_google_account_covering_all_its_conflict_calendars(org, urls):
    second = sandbox.new_user(urls, "book2")
    _, _, gid2 = sandbox.connect(urls, second, account_id=org.account_id)
    team = requests.post(f"{urls['google_sandbox']}/control/users/{second}/calendars",
                         json={"summary": "Team"}, timeout=10).json()
    google_accounts.replace_calendars(gid2, google_accounts.calendar_client(gid2).list_calendars())
    google_accounts.set_conflict_check(org.account_id, gid2, team["id"], True)
    sandbox.create_event(urls, team["id"], {
        "summary": "Team sync", "start": {"dateTime": at(3, "12:00").isoformat()},
        "end": {"dateTime": at(3, "12:30").isoformat()}})
    seq = sandbox.last_request_seq(urls)
    free = org.slots(at(3, "08:00"), at(3, "20:00"))
    assert at(3, "12:00") not in free and at(3, "12:30") in free
    calls = [r for r in sandbox.requests_since(urls, seq) if r.get("calendar_method")]
    assert [r["calendar_method"] for r in calls] == ["calendar.freebusy.query"] * 2
    assert {r["email"] for r in calls} == {org.email, second}


def test_long_ranges_are_chunked_for_google(stack, urls):
    org = Organizer(urls, horizon_days=200)
    seq = sandbox.last_request_seq(urls)
    connected = google_accounts.read_connections(org.account_id).accounts
    availability.google_busy(connected, at(0, "00:00"), at(200, "00:00"))
    assert len(org.calls(seq)) == 3  # 200 days in windows of at most 90


def test_a_calendar_error_fails_closed(org, urls):
    # A conflict calendar Google no longer knows: freeBusy answers 200 with an error entry.
    ref = db().collection("google_accounts").document(org.gid).collection("calendars")
    ref.document(google_accounts.calendar_key("gone@example.com")).set({
        "calendar_id": "gone@example.com", "summary": "Gone", "conflict_check": False})
    google_accounts.set_conflict_check(org.account_id, org.gid, "gone@example.com", True)
    with pytest.raises(errors.CalendarUnavailable) as failed:
        org.slots(at(1, "08:00"), at(1, "20:00"))
    assert "no times are offered" in failed.value.message
    with pytest.raises(errors.CalendarUnavailable):
        org.book(at(1, "10:00"))


def test_a_failing_freebusy_call_fails_closed(org, urls):
    sandbox.control(urls, "faults", {"path_regex": "freeBusy", "status": 500, "count": -1,
                                     "email": org.email})
    try:
        with pytest.raises(errors.CalendarUnavailable):
            org.slots(at(1, "08:00"), at(1, "20:00"))
    finally:
        requests.delete(f"{urls['google_sandbox']}/control/faults", timeout=10)


def test_a_revoked_connection_fails_closed(org, urls):
    _, _, other = sandbox.connect(urls, sandbox.new_user(urls, "book2"), account_id=org.account_id)
    db().collection("google_accounts").document(other).update({"status": "reconnect_needed"})
    with pytest.raises(errors.CalendarUnavailable) as failed:
        org.slots(at(1, "08:00"), at(1, "20:00"))
    assert failed.value.code == "google_reconnect_needed"
    db().collection("google_accounts").document(org.gid).update({"status": "reconnect_needed"})
    with pytest.raises(errors.Conflict) as no_calendar:  # nowhere to put the event either
        org.slots(at(1, "08:00"), at(1, "20:00"))
    assert no_calendar.value.code == "google_reconnect_needed"


def test_booking_creates_the_google_event_with_meet_in_few_calls(org, urls):
    seq = sandbox.last_request_seq(urls)
    guest = org.guest(name="Zoë <b>O'Brien</b>")
    booking = org.book(at(2, "14:00"), guest=guest, notes="Let's talk about <script>x</script>")
    assert [c["calendar_method"] for c in org.calls(seq)] == [
        "calendar.freebusy.query", "calendar.events.insert"]
    assert booking["status"] == "confirmed" and booking["sequence"] == 0
    g = booking["google"]
    assert g["event_id"] == bookings.event_id_for(booking["id"]) and g["etag"]
    assert g["meet_link"].startswith("https://meet.google.com/")
    event = org.google_event(g["event_id"])
    assert event["extendedProperties"]["private"]["bookingId"] == booking["id"]
    assert event["attendees"][0]["email"] == guest.email
    assert event["reminders"] == {"useDefault": True}
    assert event["hangoutLink"] == g["meet_link"]
    assert "<script>" not in event["description"] and "&lt;script&gt;" in event["description"]
    assert at(2, "14:00") not in org.slots(at(2, "08:00"), at(2, "20:00"))


def test_the_same_or_an_overlapping_slot_cannot_be_booked_twice(stack, urls):
    org = Organizer(urls, buffer_after_minutes=15, slot_interval_minutes=15)
    org.book(at(2, "10:00"))
    for start in ("10:00", "10:15", "10:30"):  # 10:30 is inside the first booking's buffer
        with pytest.raises(errors.SlotUnavailable):
            org.book(at(2, start))
    assert org.book(at(2, "10:45"))["status"] == "confirmed"


def test_other_event_types_of_the_organizer_conflict_too(org, urls):
    event_types.create(org.account_id, {
        "title": "Long talk", "slug": "long", "duration_minutes": 60, "timezone": "UTC",
        "weekly_hours": {d: [{"start": "00:00", "end": "24:00"}] for d in ALL_WEEK},
        "min_notice_minutes": 0, "slot_interval_minutes": 30})
    org.book(at(2, "15:00"))
    with pytest.raises(errors.SlotUnavailable):
        bookings.book(org.loaded("long"), start=at(2, "14:30"), guest=org.guest())


def test_max_per_day(stack, urls):
    org = Organizer(urls, max_per_day=1)
    org.book(at(4, "09:00"))
    assert org.slots(at(4, "00:00"), at(5, "00:00")) == []
    with pytest.raises(errors.SlotUnavailable):
        org.book(at(4, "15:00"))
    assert org.book(at(5, "15:00"))["status"] == "confirmed"


def test_bad_slots_are_invalid_input(org):
    for start, words in ((at(-1, "10:00"), "past"), (at(2, "10:10"), "not a start time"),
                         (at(2, "21:00"), "not a start time"), (at(40, "10:00"), "days ahead")):
        with pytest.raises(errors.InvalidInput) as bad:
            org.book(start)
        assert words in bad.value.message


def test_idempotency_key_returns_the_same_booking(org):
    first = org.book(at(2, "11:00"), idempotency_key="form-123")
    again = org.book(at(2, "11:00"), idempotency_key="form-123")
    assert again["id"] == first["id"]


def test_an_insert_that_already_happened_reads_the_event_instead_of_duplicating(org, urls):
    # As when Google created the event but its answer was lost and the insert is retried.
    booking_id = uuid.uuid4().hex
    sandbox.create_event(urls, org.email, {
        "id": bookings.event_id_for(booking_id), "summary": "Intro call",
        "start": {"dateTime": at(2, "12:00").isoformat()},
        "end": {"dateTime": at(2, "12:30").isoformat()},
        "extendedProperties": {"private": {"bookingId": booking_id}}})
    doc = {"title": "Intro call", "start": at(2, "12:00"), "end": at(2, "12:30"),
           "guest": org.guest().model_dump(), "organizer": {"timezone": "Europe/Berlin"}}
    event = bookings._insert_event(google_accounts.calendar_client(org.gid), org.email,
                                   booking_id, doc, meet=True)
    assert event["id"] == bookings.event_id_for(booking_id)
    with pytest.raises(bookings.GoogleApiError):  # another booking's event is never adopted
        bookings._insert_event(google_accounts.calendar_client(org.gid), org.email,
                               _same_event_other_booking(urls, org), doc, meet=True)


def _same_event_other_booking(urls, org) -> str:
    booking_id = uuid.uuid4().hex
    sandbox.create_event(urls, org.email, {
        "id": bookings.event_id_for(booking_id), "summary": "Other",
        "start": {"dateTime": at(2, "18:00").isoformat()},
        "end": {"dateTime": at(2, "18:30").isoformat()},
        "extendedProperties": {"private": {"bookingId": "someone-else"}}})
    return booking_id


def test_transient_google_errors_are_retried(org, urls):
    sandbox.control(urls, "faults", {"method": "POST", "path_regex": "/events$", "status": 503,
                                     "count": 1, "email": org.email})
    booking = org.book(at(2, "16:00"))
    assert booking["status"] == "confirmed" and booking["google"]["meet_link"]


def test_when_google_keeps_failing_the_booking_is_rejected_and_the_slot_freed(org, urls):
    sandbox.control(urls, "faults", {"method": "POST", "path_regex": "/events$", "status": 503,
                                     "count": -1, "email": org.email})
    try:
        with pytest.raises(errors.CalendarUnavailable) as failed:
            org.book(at(2, "17:00"), idempotency_key="k-fail")
    finally:
        requests.delete(f"{urls['google_sandbox']}/control/faults", timeout=10)
    assert failed.value.code == "calendar_write_failed"
    stored = bookings.get(org.account_id, bookings.booking_id_for(org.account_id, "k-fail"))
    assert stored["status"] == "failed"
    assert not any(db().collection("booking_claims").document(c).get().exists
                   for c in stored["claims"])
    assert at(2, "17:00") in org.slots(at(2, "08:00"), at(2, "20:00"))
    # The guest's retry (same form, same key) books it.
    assert org.book(at(2, "17:00"), idempotency_key="k-fail")["status"] == "confirmed"


def test_claims_of_a_crashed_attempt_expire(org):
    now = datetime.now(timezone.utc)
    start = at(2, "13:00")
    crashed = bookings.booking_id_for(org.account_id, "crashed")
    units = bookings.unit_claims(org.account_id, (start, start + timedelta(minutes=30)))
    batch = db().batch()
    for unit in units:
        batch.create(db().collection("booking_claims").document(unit),
                     {"booking_id": crashed, "hold_until": now - timedelta(minutes=1)})
    batch.set(db().collection("bookings").document(crashed), {
        "account_id": org.account_id, "status": "pending", "claims": units,
        "hold_until": now - timedelta(minutes=1), "start": start, "block_start": start,
        "end": start + timedelta(minutes=30), "block_end": start + timedelta(minutes=30)})
    batch.commit()
    assert org.book(start)["status"] == "confirmed"
    assert bookings.get_by_id(crashed)["status"] == "expired"


def test_reschedule_patches_the_event_and_frees_the_old_time(org, urls):
    booking = org.book(at(3, "10:00"))
    seq = sandbox.last_request_seq(urls)
    moved = bookings.reschedule(org.account_id, booking["id"], at(3, "15:00"),
                                event_type=org.event_type, by="guest")
    assert [c["calendar_method"] for c in org.calls(seq)] == [
        "calendar.freebusy.query", "calendar.events.patch"]
    assert moved["sequence"] == 1 and moved["previous"]["start"] == at(3, "10:00")
    event = org.google_event(booking["google"]["event_id"])
    assert event["start"]["dateTime"].startswith(at(3, "15:00").astimezone(BERLIN).isoformat()[:16])
    assert event["hangoutLink"] == booking["google"]["meet_link"]
    free = org.slots(at(3, "08:00"), at(3, "20:00"))
    assert at(3, "10:00") in free and at(3, "15:00") not in free
    # Moving by half an hour overlaps its own old time: allowed.
    assert bookings.reschedule(org.account_id, booking["id"], at(3, "15:30"))["sequence"] == 2


def test_reschedule_onto_a_busy_time_is_refused(org):
    a, b = org.book(at(3, "11:00")), org.book(at(3, "12:00"))
    with pytest.raises(errors.SlotUnavailable):
        bookings.reschedule(org.account_id, a["id"], at(3, "12:00"))
    assert bookings.get(org.account_id, a["id"])["start"] == at(3, "11:00")
    assert b["status"] == "confirmed"


def test_cancel_cancels_in_google_and_frees_the_slot(org, urls):
    booking = org.book(at(3, "16:00"))
    cancelled = bookings.cancel(org.account_id, booking["id"], by="guest", reason="ill")
    assert cancelled["status"] == "cancelled" and cancelled["sequence"] == 1
    assert cancelled["cancelled_by"] == "guest" and cancelled["claims"] == []
    event = org.google_event(booking["google"]["event_id"])
    assert event is None or event["status"] == "cancelled"
    assert at(3, "16:00") in org.slots(at(3, "08:00"), at(3, "20:00"))
    with pytest.raises(errors.Conflict):
        bookings.cancel(org.account_id, booking["id"])


def test_changes_from_google_are_recorded_without_writing_back(org, urls):
    booking = org.book(at(4, "10:00"))
    seq = sandbox.last_request_seq(urls)
    moved = bookings.reschedule(org.account_id, booking["id"], at(4, "12:00"), at(4, "13:00"),
                                origin=bookings.GOOGLE, by="organizer", google={"etag": '"x"'})
    assert moved["end"] == at(4, "13:00") and moved["google"]["etag"] == '"x"'
    cancelled = bookings.cancel(org.account_id, booking["id"], by="google",
                                origin=bookings.GOOGLE)
    assert cancelled["status"] == "cancelled" and cancelled["sequence"] == 2
    assert org.calls(seq) == []


def test_automation_event_goes_through_the_same_path(org, urls):
    attendee = bookings.GuestIn(name="Form Lead", email="lead@example.org")
    event = bookings.create_event(org.account_id, title="Onboarding", start=at(5, "09:00"),
                                  end=at(5, "10:15"), attendee=attendee)
    assert event["source"] == "automation" and event["google"]["meet_link"]
    with pytest.raises(errors.SlotUnavailable):
        org.book(at(5, "10:00"))


def test_guest_links(org):
    booking = org.book(at(6, "10:00"))
    token = guest_links.token(booking, guest_links.CANCEL)
    assert guest_links.resolve(token, guest_links.CANCEL)["id"] == booking["id"]
    with pytest.raises(errors.NotFound):
        guest_links.resolve(token + "x", guest_links.CANCEL)
    with pytest.raises(errors.NotFound):
        guest_links.resolve(token, guest_links.RESCHEDULE)  # a cancel token cannot reschedule
    with pytest.raises(errors.Gone):
        guest_links.resolve(token, guest_links.CANCEL, now=at(6, "10:05"))
    reschedule = guest_links.token(booking, guest_links.RESCHEDULE)
    moved = bookings.reschedule(org.account_id, booking["id"], at(6, "11:00"))
    with pytest.raises(errors.Gone):  # used: the booking moved on
        guest_links.resolve(reschedule, guest_links.RESCHEDULE)
    fresh = guest_links.token(moved, guest_links.CANCEL)
    bookings.cancel(org.account_id, booking["id"], by="guest")
    with pytest.raises(errors.Gone):
        guest_links.resolve(fresh, guest_links.CANCEL)
    assert guest_links.cancel_url(moved).startswith(f"{guest_links.settings().booking_url}/b/")
    assert hashlib.sha256(token.encode()).hexdigest()  # tokens are opaque strings


def test_demo_seed_has_a_booking_page(stack, tmp_path):
    from local.seed import DEMO_ACCOUNT_ID, seed_demo

    seed_demo(tmp_path)
    seed_demo(tmp_path)  # again, as after a restart with persisted data
    intro = event_types.by_slug(DEMO_ACCOUNT_ID, "intro-call")
    assert intro["duration_minutes"] == 30 and intro["timezone"] == "Europe/Berlin"
    assert intro["weekly_hours"]["fri"] == [{"start": "09:00", "end": "17:00"}]
    assert "sat" not in intro["weekly_hours"]
    assert len([e for e in event_types.list_for_account(DEMO_ACCOUNT_ID)]) == 1
