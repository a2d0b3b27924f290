"""Notification emails through the real path: google-cloud-tasks → the Cloud Tasks emulator →
the notify function → the mail sink, including the reliability run (a flaky mail service and
every task delivered twice must still give exactly one of each email) and the preview pages."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
import requests

from shared.adapters import tasks
from shared.config import settings
from shared.services import email_sends, emails, notifications
from tests.helpers import sandbox
from tests.helpers.notify import make_booking, set_faults, sink_messages, wait_for_messages

pytestmark = pytest.mark.stack


@pytest.fixture
def sink(urls):
    set_faults(urls["mail_sink"], None)
    yield urls["mail_sink"]
    set_faults(urls["mail_sink"], None)


def test_a_task_enqueued_with_google_cloud_tasks_reaches_notify(stack, sink):
    booking = make_booking()
    snapshot = notifications.booking_snapshot(booking)
    task = notifications.email_task(snapshot, "guest_declined", "organizer",
                                    key=notifications.email_key(snapshot, "guest_declined",
                                                                "organizer"))
    name = tasks.enqueue(settings().email_queue, f"{settings().notify_url}/tasks/email",
                         task.model_dump(mode="json"), key=task.key)
    assert name.endswith(tasks.task_id_for(task.key))
    (message,) = wait_for_messages(sink, 1, booking_id=booking["id"])
    assert message["to"] == [booking["organizer"]["email"]]
    assert message["subject"].startswith("Declined: Gus declined Intro call")
    # The ledger says "sent" right after SendGrid's answer, which may come after the sink
    # shows the message.
    sandbox.wait_for(lambda: email_sends.get(task.key)["status"] == "sent", what="ledger: sent")


def test_booking_confirmation_emails_both(stack, sink):
    booking = make_booking(notes="Agenda <b>numbers</b>")
    notifications.booking_changed(booking, "confirmed")
    found = wait_for_messages(sink, 2, booking_id=booking["id"])
    assert sorted(m["to"][0] for m in found) == sorted(
        [booking["organizer"]["email"], booking["guest"]["email"]])
    guest = next(m for m in found if m["custom_args"]["role"] == "guest")
    assert guest["attachments"] == ["invite.ics"]
    detail = requests.get(f"{sink}/api/messages/{guest['id']}", timeout=10).json()
    assert "Agenda &lt;b&gt;numbers&lt;/b&gt;" in detail["html"]
    # the guest reads German and gets working links from the booking engineer's guest_links
    assert detail["subject"].startswith("Bestätigt: Intro call mit Olivia")
    assert "Verschieben: http" in detail["text"] and "Buchung absagen: http" in detail["text"]


def _double_enqueue(monkeypatch):
    """Every task is delivered twice. A booking-change task is handled here, as the notify
    function would, twice; every task it creates (and any other) is created twice under two
    names, and the emulator delivers both, as a real queue may deliver one task twice."""
    original = tasks.enqueue
    created = []

    def enqueue_twice(queue, url, payload, *, key=None, schedule_at=None):
        if url.endswith(notifications.CHANGE_TASK_PATH):
            change = notifications.ChangeTask.model_validate(payload)
            for _ in range(2):
                notifications.fan_out(change)
            return
        for name in (key, f"{key}:again"):
            original(queue, url, payload, key=name, schedule_at=schedule_at)
            created.append(tasks.task_id_for(name))

    monkeypatch.setattr(tasks, "enqueue", enqueue_twice)
    return created


def _wait_drained(task_ids: list[str], timeout: float) -> None:
    """Until none of these tasks is left in the emulator's queue (done, not being retried)."""
    waiting = set(task_ids)
    parent = tasks.queue_path(settings().email_queue)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        listed = tasks._client().list_tasks(parent=parent, timeout=30)
        waiting &= {t.name.rsplit("/", 1)[-1] for t in listed}
        time.sleep(0.5)
    assert not waiting, f"{len(waiting)} tasks still queued after {timeout}s"


def test_reliability_flaky_mail_and_duplicate_deliveries(stack, sink, monkeypatch):
    """200 bookings with reschedules, cancellations and declines: with 30% of sends failing and
    every task delivered twice, the sink holds exactly the expected emails, once each."""
    rng = random.Random(5)
    created = _double_enqueue(monkeypatch)
    set_faults(sink, {"failure_rate": 0.3, "statuses": [500, 502, 503, 429], "seed": 11})
    # Far enough out that no reminder falls inside Cloud Tasks' window: only change emails.
    base = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=70)
    expected: Counter = Counter()
    ids = set()
    for i in range(200):
        booking = make_booking(start=base + timedelta(hours=i), sequence=0)
        ids.add(booking["id"])
        changes = ["confirmed"]
        roll = rng.random()
        if roll < 0.3:
            changes += ["rescheduled"]
        elif roll < 0.45:
            changes += ["rescheduled", "cancelled"]
        elif roll < 0.6:
            changes += ["cancelled"]
        elif roll < 0.65:
            changes += ["guest_declined"]
        for kind in changes:
            if kind == "rescheduled":
                booking["previous"] = {"start": booking["start"], "end": booking["end"]}
                booking["start"] += timedelta(days=1)
                booking["end"] += timedelta(days=1)
            if kind == "cancelled":
                booking.update(status="cancelled", cancelled_by=rng.choice(["guest", "organizer"]))
            if kind != "confirmed":
                booking["sequence"] += 1
            notifications.booking_changed(dict(booking), kind)
            for role in (("organizer",) if kind == "guest_declined" else ("organizer", "guest")):
                expected[(booking["id"], kind, str(booking["sequence"]), role)] += 1

    _wait_drained(created, timeout=150)
    injected = requests.get(f"{sink}/control/faults", timeout=10).json()
    received = Counter(
        (m["custom_args"]["booking_id"], m["custom_args"]["kind"], m["custom_args"]["sequence"],
         m["custom_args"]["role"])
        for m in sink_messages(sink) if m["custom_args"].get("booking_id") in ids
    )
    assert sum(expected.values()) > 500
    assert received - expected == Counter(), "duplicated or unexpected emails"
    assert expected - received == Counter(), "missing emails"
    assert injected.get("failures_injected", 1) > 0


# ---- preview ------------------------------------------------------------------------------------

class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href", "").startswith("/preview/"):
            self.hrefs.append(dict(attrs)["href"])


def test_preview_lists_every_email_in_both_languages(stack, urls):
    index = requests.get(f"{urls['notify']}/preview", timeout=10)
    assert index.status_code == 200 and "text/html" in index.headers["Content-Type"]
    anchors = _Anchors()
    anchors.feed(index.text)
    variants = sum(len(roles) for roles in emails.RECIPIENTS.values())
    assert len([h for h in anchors.hrefs if "format" not in h]) == variants * 2
    for href in anchors.hrefs:
        response = requests.get(f"{urls['notify']}{href}", timeout=10)
        assert response.status_code == 200, href
    ics = requests.get(f"{urls['notify']}/preview/confirmed/guest/de?format=ics", timeout=10)
    assert ics.text.startswith("BEGIN:VCALENDAR") and "METHOD:REQUEST" in ics.text
    missing = requests.get(f"{urls['notify']}/preview/party/guest/en", timeout=10)
    assert missing.status_code == 404 and "text/html" in missing.headers["Content-Type"]
