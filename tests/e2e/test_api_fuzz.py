"""Property-based fuzzing of every JSON operation in openapi.yaml against the running stack.

schemathesis generates valid and invalid requests from the document (positive and negative
modes). Each one is sent twice: as the owner of an account with a connected Google account
(task routes: with the Cloud Tasks queue header) and without credentials. Whatever is sent, no
answer may be a 5xx, every error must be `{"error": {"code", "message"}}`, and status codes,
content types and bodies must be the documented ones.

Generation is derandomized, so a run is reproducible; examples per operation are few, to keep
the whole file near a minute on two cores.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.accounts import bookable_owner

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

# Dates and times near now, at datetime's edges (where date arithmetic overflows) and anywhere
# between, with offsets up to +-14 h.
_OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=14)),
                            timezone(timedelta(hours=-12))])
_DATES = st.one_of(st.dates(date(2024, 1, 1), date(2030, 12, 31)),
                   st.sampled_from([date.min, date.max - timedelta(days=3)]), st.dates())
schemathesis.openapi.format("date", _DATES.map(date.isoformat))
schemathesis.openapi.format("date-time", st.tuples(_DATES, st.times(), _OFFSETS).map(
    lambda parts: datetime.combine(parts[0], parts[1], parts[2]).isoformat()))

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode), with_security_parameters=False, allow_x00=False,
)


def _function(case) -> str:
    """Which function serves the operation: task routes by their tag, the API by its path."""
    tags = case.operation.tags or []
    if tags:
        return tags[0]
    return "oauth" if case.path.startswith("/api/integrations") else "booking"


@pytest.fixture(scope="module")
def owner(stack, urls):
    """An account whose owner connected a Google account, with one event type."""
    return bookable_owner(urls, "fuzz")


def _aim(case, owner: dict) -> None:
    """Point path parameters at the owner's real objects, so requests get past the lookup and
    reach validation and the services. Every other generated id is kept as it came (a 404 path);
    deletions always keep theirs, so the objects survive for the operations after them."""
    params = case.path_parameters or {}
    if case.method.upper() == "DELETE":
        return
    for name in ("account_id", "slug", "event_type_id", "google_account_id"):
        if name in params and len(str(params[name])) % 2 == 0:
            params[name] = owner[name]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case, urls, owner):
    base_url = urls[_function(case)]
    _aim(case, owner)
    if case.path.startswith("/tasks/") or case.path.startswith("/google/"):
        trusted = {"X-CloudTasks-QueueName": "fuzz", "X-CloudScheduler": "true"}
    else:
        trusted = {"Authorization": f"Bearer {owner['key']}"}
    for headers in (trusted, {}):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if 400 <= response.status_code < 500:
            error = response.json().get("error")
            assert isinstance(error, dict), response.text
            assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), \
                response.text


# Ids Firestore refuses as document ids name nothing. In a URL only reserved ones get through
# (clients resolve "." and ".." segments); bodies and headers carry any.
@pytest.mark.parametrize("bad", ["__x__", ".", ".."])
def test_ids_firestore_refuses_are_not_found(urls, owner, bad):
    key = {"Authorization": f"Bearer {owner['key']}"}
    task = {"X-CloudTasks-QueueName": "fuzz"}
    booking, oauth, reserved = urls["booking"], urls["oauth"], f"_{bad}_"
    calls = [
        ("GET", f"{booking}/api/event-types/{reserved}", key, None, 404),
        ("PATCH", f"{booking}/api/event-types/{reserved}", key, {"title": "x"}, 404),
        ("GET", f"{booking}/api/bookings/{reserved}", key, None, 404),
        ("POST", f"{booking}/api/bookings/{reserved}/cancel", key, {}, 404),
        ("GET", f"{booking}/api/public/{reserved}/{reserved}/slots", {}, None, 404),
        ("POST", f"{oauth}/api/integrations/google-accounts/{reserved}/refresh", key, None, 404),
        ("DELETE", f"{oauth}/api/integrations/google-accounts/{reserved}", key, None, 404),
        ("PUT", f"{oauth}/api/integrations/default-calendar", key,
         {"google_account_id": bad, "calendar_id": bad}, 404),
        ("POST", f"{urls['notify']}/tasks/reminder", task,
         {"booking_id": bad, "sequence": 1, "kind": "reminder"}, 200),
        ("POST", f"{urls['webhook']}/tasks/stop-channel", task,
         {"google_account_id": bad, "channel_id": bad, "resource_id": "r"}, 200),
        ("POST", f"{urls['webhook']}/google/notifications",
         {"X-Goog-Channel-ID": bad, "X-Goog-Resource-State": "exists",
          "X-Goog-Message-Number": "1"}, None, 200),
    ]
    for method, url, headers, body, status in calls:
        response = requests.request(method, url, headers=headers, json=body, timeout=30)
        assert response.status_code == status, (method, url, response.text)
    page = requests.get(f"{booking}/book/{reserved}/{reserved}", timeout=30)
    assert page.status_code == 404 and "text/html" in page.headers["Content-Type"]


def test_sync_task_with_a_slash_in_the_google_account_id_is_malformed(urls):
    response = requests.post(f"{urls['webhook']}/tasks/sync", timeout=30,
                             headers={"X-CloudTasks-QueueName": "fuzz"},
                             json={"google_account_id": "a/b", "calendar_id": "c"})
    assert response.status_code == 400, response.text


def test_errors_functions_framework_would_answer_are_ours(urls):
    """A wrong method names the allowed ones; a path the framework's catch-all rule cannot
    match (a newline) still gets the router's JSON error, not Flask's HTML page."""
    response = requests.delete(f"{urls['booking']}/api/event-types", timeout=30)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    for path in ("/api/event-types/a%0Ab", "/robots.txt"):
        response = requests.get(f"{urls['booking']}{path}", timeout=30)
        assert response.status_code in (401, 404)
        assert response.json()["error"]["code"] in ("unauthenticated", "not_found")


def test_dates_outside_the_supported_years_are_refused(urls, owner):
    """Dates near datetime's limits overflowed date arithmetic (a 500, and for tasks a retry
    storm); they are a 400 now, at the API and in task bodies."""
    key = {"Authorization": f"Bearer {owner['key']}"}
    task = {"X-CloudTasks-QueueName": "fuzz"}
    public = f"{urls['booking']}/api/public/{owner['account_id']}/{owner['slug']}"
    far = "9999-12-31T23:59:59+00:00"
    booking = {"id": "b1", "start": far, "end": far, "organizer": {"email": "o@example.com"},
               "guest": {"email": "g@example.com"}}
    calls = [
        ("GET", f"{public}/slots?from=9999-12-31", {}, None),
        ("GET", f"{urls['booking']}/api/bookings?from=0001-01-01", key, None),
        ("POST", f"{public}/bookings", {}, {"start": far, "name": "A", "email": "a@example.com"}),
        ("POST", f"{urls['booking']}/api/events", key,
         {"title": "T", "start": far, "end": far, "attendee": {"email": "a@example.com"}}),
        ("POST", f"{urls['notify']}/tasks/booking-changed", task,
         {"kind": "confirmed", "booking": booking}),
        ("POST", f"{urls['notify']}/tasks/email", task,
         {"key": "fuzz-far", "kind": "confirmed", "role": "guest",
          "to": {"email": "g@example.com"}, "booking": booking}),
        ("POST", f"{urls['notify']}/tasks/reminder", task,
         {"booking_id": "b1", "sequence": 0, "kind": "reminder", "minutes": 10**30}),
    ]
    for method, url, headers, body in calls:
        response = requests.request(method, url, headers=headers, json=body, timeout=30)
        assert response.status_code == 400, (method, url, response.text)
