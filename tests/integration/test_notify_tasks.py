"""The notify function's task handlers, in process, against the Firestore emulator and the mail
sink: duplicate deliveries, retryable and permanent SendGrid failures, reminders that went
stale, the sweep for bookings beyond Cloud Tasks' 30-day horizon, the reconnect email."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from functions_framework import create_app

from shared.adapters import tasks
from shared.adapters.firestore import db
from shared.services import email_sends, emails, notifications, reminders
from tests.helpers.notify import (fixed_guest_links, make_booking, set_faults, sink_messages,
                                  wait_for_messages)

pytestmark = pytest.mark.stack
TASK_HEADERS = {"X-CloudTasks-QueueName": "email", "X-CloudTasks-TaskName": "t"}


@pytest.fixture
def client(stack, monkeypatch):
    fixed_guest_links(monkeypatch)
    return create_app(target="notify", source="functions/notify/main.py").test_client()


@pytest.fixture
def sink(urls):
    set_faults(urls["mail_sink"], None)
    yield urls["mail_sink"]
    set_faults(urls["mail_sink"], None)


@pytest.fixture
def enqueued(monkeypatch):
    """Tasks that services enqueue, captured instead of sent to Cloud Tasks."""
    captured = []

    def fake_enqueue(queue, url, payload, *, key=None, schedule_at=None):
        captured.append({"queue": queue, "url": url, "payload": payload, "key": key,
                         "schedule_at": schedule_at})
        if url.endswith(notifications.CHANGE_TASK_PATH):
            # What the notify function does when this task arrives.
            notifications.fan_out(notifications.ChangeTask.model_validate(payload))
        return key

    monkeypatch.setattr(tasks, "enqueue", fake_enqueue)
    return captured


def _email_task(booking: dict, kind: str = "confirmed", role: str = "guest") -> dict:
    snapshot = notifications.booking_snapshot(booking)
    task = notifications.email_task(snapshot, kind, role,
                                    key=notifications.email_key(snapshot, kind, role))
    return task.model_dump(mode="json")


def test_booking_changed_enqueues_one_task_per_email(stack, enqueued):
    booking = make_booking()
    notifications.booking_changed(booking, "confirmed")
    (change,) = [t for t in enqueued if t["url"].endswith("/tasks/booking-changed")]
    assert change["key"] == f"booking:{booking['id']}:confirmed:1"
    emails_ = [t for t in enqueued if t["url"].endswith("/tasks/email")]
    assert sorted(t["payload"]["role"] for t in emails_) == ["guest", "organizer"]
    assert {t["key"] for t in emails_} == {
        f"booking:{booking['id']}:confirmed:1:organizer", f"booking:{booking['id']}:confirmed:1:guest"}
    assert all(t["queue"] == "email" for t in enqueued)
    # the snapshot travels as JSON
    assert datetime.fromisoformat(emails_[0]["payload"]["booking"]["start"]) == booking["start"]
    with pytest.raises(ValueError):
        notifications.booking_changed(booking, "exploded")


def test_duplicate_delivery_sends_once(client, sink):
    booking = make_booking()
    body = _email_task(booking)
    first = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    second = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert first.status_code == 200 and first.json == {"status": "sent"}
    assert second.status_code == 200 and second.json == {"status": "duplicate"}
    (message,) = sink_messages(sink, booking_id=booking["id"])
    assert message["to"] == [booking["guest"]["email"]]
    assert message["attachments"] == ["invite.ics"]
    assert message["custom_args"]["send_id"] == email_sends.send_id(body["key"])
    record = email_sends.get(body["key"])
    assert record["status"] == "sent" and record["attempts"] == 1
    assert record["recipient"] == booking["guest"]["email"] and record["sequence"] == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retryable_failure_answers_503_then_sends_once(client, sink, status):
    booking = make_booking()
    body = _email_task(booking)
    set_faults(sink, {"fail_next": 1, "status": status})
    failed = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert failed.status_code == 503
    assert failed.json["error"]["code"] == "mail_unavailable"
    assert email_sends.get(body["key"])["status"] == "retry"
    retried = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert retried.json == {"status": "sent"}
    assert len(sink_messages(sink, booking_id=booking["id"])) == 1
    assert email_sends.get(body["key"])["attempts"] == 2


def test_permanent_failure_is_recorded_and_not_retried(client, sink):
    booking = make_booking()
    body = _email_task(booking)
    set_faults(sink, {"fail_next": 1, "status": 400})
    response = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert response.status_code == 200 and response.json == {"status": "failed"}
    record = email_sends.get(body["key"])
    assert record["status"] == "failed" and "400" in record["last_error"]
    again = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert again.json == {"status": "duplicate"}
    assert sink_messages(sink, booking_id=booking["id"]) == []


def test_unreachable_mail_service_is_retryable(client, sink, monkeypatch):
    from shared.adapters import mail

    class Unreachable:
        def send(self, payload):
            raise TimeoutError("timed out")

    monkeypatch.setattr(mail, "_client", lambda: Unreachable())
    body = _email_task(make_booking())
    assert client.post("/tasks/email", json=body, headers=TASK_HEADERS).status_code == 503
    assert email_sends.get(body["key"])["status"] == "retry"


def test_a_delivery_in_progress_makes_the_other_retry_later(client, sink):
    booking = make_booking()
    body = _email_task(booking)
    ref = db().collection(email_sends.EMAIL_SENDS).document(email_sends.send_id(body["key"]))
    ref.set({"status": "sending", "attempts": 1,
             "lease_until": datetime.now(timezone.utc) + timedelta(seconds=30)})
    busy = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert busy.status_code == 503 and busy.json["error"]["code"] == "send_in_progress"
    # a delivery that died mid-send is taken over once its lease ran out
    ref.update({"lease_until": datetime.now(timezone.utc) - timedelta(seconds=1)})
    assert client.post("/tasks/email", json=body, headers=TASK_HEADERS).json == {"status": "sent"}
    assert len(sink_messages(sink, booking_id=booking["id"])) == 1


def test_task_routes_need_the_queue_header(client):
    body = _email_task(make_booking())
    for path in ("/tasks/email", "/tasks/reminder", "/tasks/reminder-sweep"):
        response = client.post(path, json=body)
        assert response.status_code == 403, path
        assert response.json["error"]["code"] in ("not_a_task", "not_a_job")


@pytest.mark.parametrize("body, field", [
    ({}, "key"),
    ({"key": "k", "kind": "confirmed", "role": "guest", "to": {"email": "x@example.com"}},
     None),
    ({"key": "k", "kind": "party", "role": "guest", "to": {"email": "x@example.com"}}, "kind"),
])
def test_malformed_tasks_are_400_and_not_retried(client, body, field):
    response = client.post("/tasks/email", json=body, headers=TASK_HEADERS)
    assert response.status_code == 400
    if field:
        assert field in response.json["error"]["message"]
    assert client.post("/tasks/email", data="nope", headers=TASK_HEADERS).status_code == 400


# ---- reminders ----------------------------------------------------------------------------------

def _store(booking: dict) -> None:
    db().collection(reminders.BOOKINGS).document(booking["id"]).set(
        {k: v for k, v in booking.items() if k != "id"})


def test_reminder_offsets_come_from_the_booking_or_the_calendar(stack):
    from shared.services import google_accounts

    booking = make_booking(reminders=[{"method": "email", "minutes": 30},
                                      {"method": "popup", "minutes": 1440},
                                      {"method": "email", "minutes": 30},
                                      {"method": "email", "minutes": 99999}])
    assert reminders.offsets(booking) == [1440, 30]
    assert reminders.offsets({**booking, "reminders": []}) == []
    gid = "ga-" + booking["id"]
    db().collection("google_accounts").document(gid).collection("calendars").document(
        google_accounts.calendar_key("team@example.com")).set(
        {"calendar_id": "team@example.com", "default_reminders": [{"method": "popup", "minutes": 10}]})
    no_overrides = {k: v for k, v in booking.items() if k != "reminders"}
    no_overrides["google"] = {"google_account_id": gid, "calendar_id": "team@example.com"}
    assert reminders.offsets(no_overrides) == [10]
    no_overrides["google"] = {"google_account_id": gid, "calendar_id": "gone@example.com"}
    assert reminders.offsets(no_overrides) == []


def test_schedule_enqueues_within_30_days_and_the_sweep_the_rest(stack, enqueued):
    now = datetime.now(timezone.utc)
    near = make_booking(start=now + timedelta(days=2), reminders=[{"method": "email", "minutes": 60}])
    # the 28-day reminder of a booking 40 days out falls inside the window, the 1-hour one not
    far = make_booking(start=now + timedelta(days=40),
                       reminders=[{"method": "email", "minutes": 60},
                                  {"method": "email", "minutes": 28 * 1440}])
    for booking in (near, far):
        _store(booking)
        notifications.booking_changed(booking, "confirmed")
    scheduled = [t for t in enqueued if t["url"].endswith("/tasks/reminder")]
    by_booking = {b["id"]: sorted((t["payload"]["kind"], t["payload"]["minutes"])
                                  for t in scheduled if t["payload"]["booking_id"] == b["id"])
                  for b in (near, far)}
    assert by_booking[near["id"]] == [("followup", 0), ("reminder", 60)]
    assert by_booking[far["id"]] == [("reminder", 40320)]
    for t in scheduled:
        assert t["schedule_at"] <= now + timedelta(days=30)

    # A sweep now finds nothing new for these two; 20 days later the rest has entered.
    enqueued.clear()
    reminders.sweep(now=now)
    assert not [t for t in enqueued if t["payload"]["booking_id"] in (near["id"], far["id"])]
    reminders.sweep(now=now + timedelta(days=20))
    swept = sorted((t["payload"]["kind"], t["payload"]["minutes"]) for t in enqueued
                   if t["payload"]["booking_id"] == far["id"])
    assert swept == [("followup", 0), ("reminder", 60)]
    # the same keys as direct scheduling would use, so Cloud Tasks and the ledger dedupe them
    assert {t["key"] for t in enqueued if t["payload"]["booking_id"] == far["id"]} == {
        f"booking:{far['id']}:reminder-60:1", f"booking:{far['id']}:followup:1"}
    enqueued.clear()
    reminders.sweep(now=now + timedelta(days=21))
    assert not [t for t in enqueued if t["payload"]["booking_id"] == far["id"]]


def test_sweep_skips_cancelled_bookings(stack, enqueued):
    now = datetime.now(timezone.utc)
    booking = make_booking(start=now + timedelta(days=45), status="cancelled",
                           reminders=[{"method": "email", "minutes": 60}])
    _store(booking)
    reminders.sweep(now=now + timedelta(days=20))
    assert not [t for t in enqueued if t["payload"]["booking_id"] == booking["id"]]


def test_reminder_sends_once_and_stale_reminders_do_nothing(client, sink, enqueued):
    booking = make_booking(start=datetime.now(timezone.utc) + timedelta(hours=2), sequence=2)
    _store(booking)
    body = {"booking_id": booking["id"], "sequence": 2, "kind": "reminder", "minutes": 60}
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).json == {"status": "sent"}
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).status_code == 200
    (message,) = sink_messages(sink, booking_id=booking["id"])
    assert message["to"] == [booking["guest"]["email"]]
    assert message["custom_args"]["kind"] == "reminder"
    assert message["subject"].startswith("Erinnerung: Intro call mit Olivia in 1 Stunde")

    stale = {**body, "sequence": 1}
    assert client.post("/tasks/reminder", json=stale, headers=TASK_HEADERS).json == {"status": "stale"}
    db().collection(reminders.BOOKINGS).document(booking["id"]).update({"status": "cancelled"})
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).json == {"status": "stale"}
    missing = {**body, "booking_id": "no-such-booking"}
    assert client.post("/tasks/reminder", json=missing, headers=TASK_HEADERS).json == {"status": "stale"}
    assert len(sink_messages(sink, booking_id=booking["id"])) == 1
    bad = client.post("/tasks/reminder", json={"booking_id": "x"}, headers=TASK_HEADERS)
    assert bad.status_code == 400


def test_followup_goes_to_both_and_a_failure_retries_only_the_missing_one(client, sink):
    booking = make_booking(start=datetime.now(timezone.utc) - timedelta(hours=1))
    _store(booking)
    body = {"booking_id": booking["id"], "sequence": 1, "kind": "followup"}
    set_faults(sink, {"fail_next": 1, "status": 503})
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).status_code == 503
    assert len(sink_messages(sink, booking_id=booking["id"])) == 1
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).status_code == 200
    found = sink_messages(sink, booking_id=booking["id"])
    assert sorted(m["custom_args"]["role"] for m in found) == ["guest", "organizer"]


def test_reminder_after_the_start_is_not_sent(client, sink):
    booking = make_booking(start=datetime.now(timezone.utc) - timedelta(minutes=5))
    _store(booking)
    body = {"booking_id": booking["id"], "sequence": 1, "kind": "reminder", "minutes": 30}
    assert client.post("/tasks/reminder", json=body, headers=TASK_HEADERS).json == {"status": "late"}


def test_sweep_route_answers_scheduler(client, enqueued):
    for headers in ({"X-CloudScheduler": "true"}, {"User-Agent": "Google-Cloud-Scheduler"}):
        response = client.post("/tasks/reminder-sweep", headers=headers)
        assert response.status_code == 200 and isinstance(response.json["enqueued"], int)


# ---- reconnect ----------------------------------------------------------------------------------

def test_reconnect_email_once_per_connection(client, sink, enqueued):
    from shared.services import members

    account, owner, _ = members.create_account(name="Acme", owner_name="Olivia",
                                               owner_email=f"owner-{datetime.now().timestamp()}@example.com",
                                               language="de")
    gid = f"{account['id']}_sub1"
    connected_at = datetime(2026, 1, 5, tzinfo=timezone.utc)
    db().collection("google_accounts").document(gid).set({
        "account_id": account["id"], "email": "olivia.work@example.com", "sub": "sub1",
        "status": "reconnect_needed", "connected_at": connected_at})
    notifications.send_reconnect_needed(gid)
    notifications.send_reconnect_needed(gid)
    keys = {t["key"] for t in enqueued}
    assert keys == {f"reconnect:{gid}:{connected_at.isoformat()}"}
    for task in enqueued:
        client.post("/tasks/email", json=task["payload"], headers=TASK_HEADERS)
    (message,) = wait_for_messages(sink, 1, timeout=2, kind=emails.RECONNECT_NEEDED,
                                   send_id=email_sends.send_id(keys.pop()))
    assert message["to"] == [owner.email]
    assert message["subject"] == "Bitte verbinden Sie Ihr Google-Konto olivia.work@example.com erneut"


def test_a_change_cloud_tasks_refused_is_replayed_by_the_sweep(stack, enqueued, monkeypatch):
    """Cloud Tasks down when a booking changed: the change is kept on the booking and the
    sweep queues it once; a change superseded by a later one is dropped."""
    from shared.services import bookings

    current, superseded = make_booking(), make_booking()
    for booking in (current, superseded):
        _store(booking)

    def unavailable(*args, **kwargs):
        raise RuntimeError("Cloud Tasks unreachable")

    with monkeypatch.context() as down:
        down.setattr(tasks, "enqueue", unavailable)
        bookings._notify(current, "confirmed")
        bookings._notify(superseded, "confirmed")
    db().collection("bookings").document(superseded["id"]).update({"sequence": 5})
    assert db().collection("bookings").document(current["id"]).get().get("unsent_change") == {
        "kind": "confirmed", "sequence": current["sequence"]}

    enqueued.clear()
    notifications.replay_unsent()
    changes = [t for t in enqueued if t["url"].endswith("/tasks/booking-changed")]
    assert [t["payload"]["booking"]["id"] for t in changes] == [current["id"]]
    for booking in (current, superseded):
        assert "unsent_change" not in db().collection("bookings").document(booking["id"]).get().to_dict()
    enqueued.clear()
    notifications.replay_unsent()
    assert not [t for t in enqueued if t["url"].endswith("/tasks/booking-changed")]
