"""The booking function over HTTP: event types (owner and assistants), public slots and
booking, the organizer's bookings, forms and automations (owner only), bad input, the guest
pages, and 50 concurrent requests for one slot."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests

from shared.services import bookings, guest_links, members
from tests.helpers import sandbox
from tests.helpers.times import ALL_WEEK, BERLIN, berlin



def at(days: int, hhmm: str) -> str:
    return berlin(days, hhmm).isoformat()


@pytest.fixture
def team(stack, urls):
    email = sandbox.new_user(urls, "api")
    account_id, owner_key, _ = sandbox.connect(urls, email)
    _, assistant_key = members.add_member(account_id, role=members.ASSISTANT, name="Ali",
                                          email=f"ali-{email}")
    base = urls["booking"]
    created = requests.post(f"{base}/api/event-types", headers=_auth(assistant_key), json={
        "title": "Intro call", "slug": "intro", "duration_minutes": 30,
        "timezone": "Europe/Berlin", "weekly_hours": ALL_WEEK, "min_notice_minutes": 0,
        "horizon_days": 30}, timeout=10)
    assert created.status_code == 201, created.text
    return {"account_id": account_id, "owner": owner_key, "assistant": assistant_key,
            "email": email, "base": base, "public": f"{base}/api/public/{account_id}/intro"}


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _book(team, start, **body):
    payload = {"start": start, "name": "Gina Guest", "email": "gina@example.org",
               "timezone": "America/New_York", **body}
    return requests.post(f"{team['public']}/bookings", json=payload, timeout=30)


def test_event_types_crud_for_members(team):
    base, key = team["base"], team["assistant"]
    listed = requests.get(f"{base}/api/event-types", headers=_auth(key), timeout=10).json()
    (intro,) = listed["event_types"]
    changed = requests.patch(f"{base}/api/event-types/{intro['id']}", headers=_auth(key),
                             json={"buffer_after_minutes": 10, "slug": "hello"}, timeout=10)
    assert changed.status_code == 200 and changed.json()["slug"] == "hello"
    assert requests.get(f"{base}/api/public/{team['account_id']}/intro", timeout=10
                        ).status_code == 404
    clash = requests.post(f"{base}/api/event-types", headers=_auth(key), json={
        "title": "Other", "slug": "hello", "duration_minutes": 15}, timeout=10)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "slug_taken"
    assert requests.get(f"{base}/api/event-types", timeout=10).status_code == 401
    gone = requests.delete(f"{base}/api/event-types/{intro['id']}", headers=_auth(key), timeout=10)
    assert gone.status_code == 200
    assert requests.get(f"{base}/api/event-types/{intro['id']}", headers=_auth(key),
                        timeout=10).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"duration_minutes": 7}, "duration_minutes"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"weekly_hours": {"mon": [{"start": "10:00", "end": "09:00"}]}}, "weekly_hours"),
    ({"weekly_hours": {"mon": [{"start": "09:00", "end": "12:00"},
                               {"start": "11:00", "end": "13:00"}]}}, "weekly_hours"),
    ({"slug": "Not A Slug"}, "slug"),
    ({"title": "x" * 201}, "title"),
    ({"surprise": True}, "surprise"),
])
def test_invalid_event_types_are_400(team, body, field):
    data = {"title": "T", "slug": "t", "duration_minutes": 30, **body}
    r = requests.post(f"{team['base']}/api/event-types", headers=_auth(team["owner"]),
                      json=data, timeout=10)
    assert r.status_code == 400 and field in r.json()["error"]["message"]


def test_public_slots_in_the_guests_zone(team):
    day = (datetime.now(BERLIN).date() + timedelta(days=2)).isoformat()
    r = requests.get(f"{team['public']}/slots", params={
        "from": day, "to": day, "timezone": "Asia/Tokyo"}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] == "Asia/Tokyo" and body["slots"]
    assert all(s["start"].endswith("+09:00") for s in body["slots"])
    assert all(s["start"][:10] == day for s in body["slots"])


@pytest.mark.parametrize("params,status", [
    ({"timezone": "Nowhere/City"}, 400),
    ({"from": "2026-02-30"}, 400),
    ({"from": "2026-01-10", "to": "2026-01-01"}, 400),
    ({"from": "2026-01-01", "to": "2026-12-31"}, 400),
])
def test_bad_slot_queries(team, params, status):
    r = requests.get(f"{team['public']}/slots", params=params, timeout=10)
    assert r.status_code == status and r.json()["error"]["message"]


def test_unknown_event_type_is_404(team):
    r = requests.get(f"{team['base']}/api/public/{team['account_id']}/nope/slots", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_type_not_found"


@pytest.mark.parametrize("start,body,code", [
    (at(2, "10:10"), {}, "invalid_slot"),
    (at(-2, "10:00"), {}, "invalid_slot"),
    (at(45, "10:00"), {}, "invalid_slot"),
    ("tomorrow", {}, "invalid_request"),
    (at(2, "10:00")[:-6], {}, "invalid_request"),
    (at(2, "10:00"), {"email": "not-an-email"}, "validation_failed"),
    (at(2, "10:00"), {"name": "n" * 201}, "validation_failed"),
    (at(2, "10:00"), {"notes": "n" * 2001}, "validation_failed"),
    (at(2, "10:00"), {"timezone": "Mars/Base"}, "validation_failed"),
])
def test_bad_bookings_are_4xx(team, start, body, code):
    r = _book(team, start, **body)
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == code, r.text


def test_book_list_reschedule_cancel(team):
    r = _book(team, at(3, "10:00"), name="<img src=x>")
    assert r.status_code == 201, r.text
    booking = r.json()
    assert booking["start"].endswith("-05:00") or booking["start"].endswith("-04:00")
    assert booking["meet_link"] and booking["cancel_url"].startswith(team["base"] + "/b/cancel/")
    base, key = team["base"], team["assistant"]
    listed = requests.get(f"{base}/api/bookings", headers=_auth(key), timeout=10).json()
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]
    assert "claims" not in listed["bookings"][0]
    moved = requests.post(f"{base}/api/bookings/{booking['id']}/reschedule", headers=_auth(key),
                          json={"start": at(3, "13:00")}, timeout=20)
    assert moved.status_code == 200 and moved.json()["sequence"] == 1
    cancelled = requests.post(f"{base}/api/bookings/{booking['id']}/cancel", headers=_auth(key),
                              json={"reason": "conflict"}, timeout=20)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = requests.post(f"{base}/api/bookings/{booking['id']}/cancel", headers=_auth(key),
                          timeout=20)
    assert again.status_code == 409


def test_forms_and_automations_are_owner_only(team):
    body = {"title": "Onboarding", "start": at(4, "09:00"), "end": at(4, "10:00"),
            "attendee": {"email": "lead@example.org", "name": "Lead"}}
    url = f"{team['base']}/api/events"
    denied = requests.post(url, headers=_auth(team["assistant"]), json=body, timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "owner_only"
    made = requests.post(url, headers={**_auth(team["owner"]), "Idempotency-Key": "form-1"},
                         json=body, timeout=20)
    assert made.status_code == 201, made.text
    assert made.json()["google"]["meet_link"] and made.json()["source"] == "automation"
    repeat = requests.post(url, headers={**_auth(team["owner"]), "Idempotency-Key": "form-1"},
                           json=body, timeout=20)
    assert repeat.json()["id"] == made.json()["id"]
    bad = requests.post(url, headers=_auth(team["owner"]), json={**body, "end": body["start"]},
                        timeout=10)
    assert bad.status_code == 400


def test_fifty_concurrent_requests_for_one_slot_confirm_exactly_one(team):
    start = at(5, "11:00")
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(
            lambda i: _book(team, start, email=f"g{i}@example.org"), range(50)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 1 and statuses.count(409) == 49, statuses
    assert all(r.json()["error"]["message"] == "slot no longer available"
               for r in answers if r.status_code == 409)


def test_guest_cancel_page_asks_first_and_only_post_cancels(team):
    booking = _book(team, at(6, "15:00"), name="Zoë <script>alert(1)</script>").json()
    link = booking["cancel_url"].split("?")[0]
    shown = requests.get(link, headers={"Accept-Language": "de-DE"}, timeout=10)
    assert shown.status_code == 200 and "wirklich absagen" in shown.text
    assert "<script>alert(1)</script>" not in shown.text
    assert bookings.get_by_id(booking["id"])["status"] == "confirmed"
    done = requests.post(link, data={"reason": ""}, timeout=20)
    assert done.status_code == 200 and bookings.get_by_id(booking["id"])["status"] == "cancelled"
    assert requests.get(booking["calendar_file_url"], timeout=10).status_code == 410
    used = requests.get(link, timeout=10)
    assert used.status_code == 410 and "already been cancelled" in used.text
    forged = requests.get(link.replace("/b/cancel/", "/b/cancel/x"), timeout=10)
    assert forged.status_code == 404 and "not valid" in forged.text


def test_booking_page_books_without_javascript(team, urls):
    page_url = f"{team['base']}/book/{team['account_id']}/intro"
    day = (datetime.now(BERLIN).date() + timedelta(days=7)).isoformat()
    page = requests.get(page_url, params={"from": day, "tz": "Europe/London"}, timeout=10)
    assert page.status_code == 200
    first = re.search(r'name="start" value="([^"]+)"', page.text.split('id="booking-form"')[1])
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
    form = {"start": first.group(1), "name": "Page Guest", "email": "page@example.org",
            "notes": "", "tz": "Europe/London", "request_id": request_id}
    posted = requests.post(page_url, data=form, allow_redirects=False, timeout=20)
    assert posted.status_code == 303, posted.text
    confirmation = requests.get(posted.headers["Location"], timeout=10)
    assert "You are booked" in confirmation.text and "meet.google.com" in confirmation.text
    _check_calendar_file(confirmation.text, first.group(1))
    twice = requests.post(page_url, data=form, allow_redirects=False, timeout=20)
    assert _viewed(twice) == _viewed(posted)  # double submit: one booking
    taken = requests.post(page_url, data={**form, "request_id": "other"}, timeout=20)
    assert taken.status_code == 409 and "just taken" in taken.text
    assert 'value="Page Guest"' in taken.text  # the guest's input survives the error


def test_guest_reschedule_page(team):
    booking = _book(team, at(8, "10:00")).json()
    link = booking["reschedule_url"]
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "Choose a new time" in page.text
    options = re.findall(r'name="start" value="([^"]+)"',
                         page.text.split('id="reschedule-form"')[1])
    target = next(o for o in options if o != booking["start"])
    moved = requests.post(link.split("?")[0], data={"start": target}, timeout=20)
    assert moved.status_code == 200 and "has been moved" in moved.text
    stored = bookings.get_by_id(booking["id"])
    assert stored["sequence"] == 1 and stored["start"] == datetime.fromisoformat(target)
    assert requests.get(link, timeout=10).status_code == 410  # used
    assert guest_links.cancel_url(stored) != booking["cancel_url"]


def _check_calendar_file(page_text: str, start: str) -> None:
    """The confirmation page offers the booking as an .ics with the invitation's UID."""
    import icalendar

    href = re.search(r'href="([^"]+calendar\.ics)"', page_text).group(1)
    answer = requests.get(href, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/calendar; method=PUBLISH"
    assert "attachment" in answer.headers["Content-Disposition"]
    cal = icalendar.Calendar.from_ical(answer.content)
    (event,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "PUBLISH" and str(event["UID"]).endswith("@calbridge")
    assert event.decoded("DTSTART") == datetime.fromisoformat(start)
    assert "meet.google.com" in str(event["LOCATION"])
    forged = requests.get(href.replace("/b/view/", "/b/view/x"), timeout=10)
    assert forged.status_code == 404


def _viewed(redirect) -> str:
    """The booking a redirect to its confirmation page shows (links are signed anew each time)."""
    from urllib.parse import unquote, urlparse

    token = unquote(urlparse(redirect.headers["Location"]).path.rsplit("/", 1)[-1])
    return guest_links.resolve(token, guest_links.VIEW)["id"]
