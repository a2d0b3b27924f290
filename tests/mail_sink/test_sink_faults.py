"""Fault injection through /control/faults, seen by the sendgrid client."""

from __future__ import annotations

import time

import pytest
import requests
from python_http_client.exceptions import (
    HTTPError, InternalServerError, ServiceUnavailableError, TooManyRequestsError,
)
from sendgrid.helpers.mail import Mail


def mail() -> Mail:
    return Mail(from_email="bookings@calbridge.test", to_emails="guest@example.com",
                subject="Reminder", plain_text_content="Tomorrow at 9.")


def set_faults(sink, **plan) -> dict:
    response = requests.post(f"{sink.url}/control/faults", json=plan, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def stats(sink) -> dict:
    return requests.get(f"{sink.url}/api/stats", timeout=5).json()


def send_status(client) -> int:
    try:
        return client.send(mail()).status_code
    except HTTPError as exc:
        return exc.status_code


def test_fail_next_fails_exactly_that_many(sink, sendgrid_client):
    set_faults(sink, fail_next=2, status=503)

    for _ in range(2):
        with pytest.raises(ServiceUnavailableError) as caught:
            sendgrid_client.send(mail())
        assert caught.value.to_dict["errors"][0]["message"] == "Service Unavailable"
    assert sendgrid_client.send(mail()).status_code == 202

    assert stats(sink) == {"count": 1, "failures_injected": 2, "requests": 3}


def test_fail_next_defaults_to_500(sink, sendgrid_client):
    set_faults(sink, fail_next=1)

    with pytest.raises(InternalServerError):
        sendgrid_client.send(mail())


def test_injected_429_carries_rate_limit_headers(sink, sendgrid_client):
    set_faults(sink, fail_next=1, status=429)

    with pytest.raises(TooManyRequestsError) as caught:
        sendgrid_client.send(mail())

    headers = caught.value.headers
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Limit"]) > 0
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())


def test_seeded_failure_rate_is_reproducible(sink, sendgrid_client):
    plan = {"failure_rate": 0.5, "statuses": [500, 503, 429], "seed": 1234}

    set_faults(sink, **plan)
    first = [send_status(sendgrid_client) for _ in range(30)]
    set_faults(sink, **plan)
    second = [send_status(sendgrid_client) for _ in range(30)]

    assert first == second
    assert set(first) == {202, 500, 503, 429}
    assert stats(sink)["count"] == 2 * first.count(202)
    assert stats(sink)["failures_injected"] == 60 - 2 * first.count(202)


def test_failure_rate_one_fails_every_send(sink, sendgrid_client):
    set_faults(sink, failure_rate=1, statuses=[503])

    assert [send_status(sendgrid_client) for _ in range(5)] == [503] * 5
    assert stats(sink)["count"] == 0


def test_latency_delays_sends(sink, sendgrid_client):
    set_faults(sink, latency_ms=300)

    started = time.monotonic()
    assert sendgrid_client.send(mail()).status_code == 202
    assert time.monotonic() - started >= 0.3


def test_auth_is_checked_before_faults(sink, post_mail, make_mail):
    set_faults(sink, fail_next=1, status=500)

    assert post_mail(make_mail(), api_key="SG.wrong").status_code == 401
    assert post_mail(make_mail()).status_code == 500


def test_delete_clears_faults(sink, sendgrid_client):
    set_faults(sink, failure_rate=1.0, statuses=[500], fail_next=3)

    cleared = requests.delete(f"{sink.url}/control/faults", timeout=5).json()

    assert cleared["failure_rate"] == 0 and cleared["fail_next_remaining"] == 0
    assert sendgrid_client.send(mail()).status_code == 202


def test_get_reports_the_plan(sink):
    set_faults(sink, fail_next=2, status=502, latency_ms=5)

    state = requests.get(f"{sink.url}/control/faults", timeout=5).json()

    assert state["fail_next_remaining"] == 2
    assert state["status"] == 502
    assert state["latency_ms"] == 5


def test_reset_clears_messages_faults_and_counters(sink, sendgrid_client):
    sendgrid_client.send(mail())
    set_faults(sink, fail_next=1)
    send_status(sendgrid_client)

    assert requests.post(f"{sink.url}/control/reset", timeout=5).status_code == 200

    assert stats(sink) == {"count": 0, "failures_injected": 0, "requests": 0}
    assert requests.get(f"{sink.url}/api/messages", timeout=5).json() == []
    assert sendgrid_client.send(mail()).status_code == 202


@pytest.mark.parametrize("plan, field", [
    ({"failure_rate": 1.5}, "failure_rate"),
    ({"failure_rate": "0.3"}, "failure_rate"),
    ({"statuses": []}, "statuses"),
    ({"statuses": [200]}, "statuses.0"),
    ({"fail_next": -1}, "fail_next"),
    ({"fail_next": 1, "status": 302}, "status"),
    ({"latency_ms": 1.5}, "latency_ms"),
    ({"failure-rate": 0.3}, "failure-rate"),
    ([], None),
])
def test_invalid_fault_plan_is_rejected(sink, plan, field):
    response = requests.post(f"{sink.url}/control/faults", json=plan, timeout=5)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert requests.get(f"{sink.url}/control/faults", timeout=5).json()["failure_rate"] == 0
