"""shared.services.google_accounts against the Firestore emulator: stored connections and
calendars, default and conflict calendars, and marking broken connections exactly once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from shared import errors
from shared.adapters.firestore import db
from shared.services import google_accounts as ga_service
from shared.services import members


def entry(calendar_id, summary, role="owner", primary=False, **extra):
    return {"id": calendar_id, "summary": summary, "accessRole": role, "primary": primary,
            "timeZone": "Europe/Berlin", "backgroundColor": "#9fe1e7",
            "defaultReminders": [{"method": "popup", "minutes": 10}], **extra}


@pytest.fixture
def account(stack):
    created, _, _ = members.create_account(name="Studio", owner_name="Olga",
                                           owner_email=f"o{time.time_ns()}@example.net")
    return created["id"]


def connect(account_id, email="alice@example.com", entries=None, sub=None):
    return ga_service.save_connection(
        account_id=account_id, sub=sub or uuid.uuid4().hex, email=email,
        refresh_token="1//fake-refresh", scopes=["openid"],
        calendar_entries=entries if entries is not None else [
            entry(email, email, primary=True),
            entry("team@group.calendar.google.com", "Team", role="writer"),
            entry("holidays@group.v.calendar.google.com", "Holidays", role="reader"),
        ],
    )


def test_first_connection_sets_default_and_meet_and_stores_calendars(account):
    saved = connect(account)
    assert saved.created and saved.default_set
    ga, cal = ga_service.read_connections(account).default_calendar()
    assert ga.id == saved.google_account_id and cal["calendar_id"] == "alice@example.com"
    assert db().collection("accounts").document(account).get().get("meet_enabled") is True
    stored = {c["summary"]: c for c in ga_service.calendars(ga.id)}
    assert stored["alice@example.com"]["conflict_check"] and stored["Team"]["writable"]
    assert not stored["Team"]["conflict_check"] and not stored["Holidays"]["writable"]
    assert stored["Team"]["default_reminders"] == [{"method": "popup", "minutes": 10}]
    assert ga_service.decrypted_refresh_token(ga) == "1//fake-refresh"
    assert "fake-refresh" not in str(db().collection("google_accounts").document(ga.id).get()
                                     .to_dict())


def test_no_default_and_reconnect_needed_are_clear_conflicts(account):
    with pytest.raises(errors.Conflict) as none_set:
        ga_service.read_connections(account).default_calendar()
    assert none_set.value.code == "no_default_calendar"
    saved = connect(account)
    ga_service.mark_reconnect_needed(saved.google_account_id)
    with pytest.raises(errors.Conflict) as broken:
        ga_service.read_connections(account).default_calendar()
    assert broken.value.code == "google_reconnect_needed"
    with pytest.raises(errors.CalendarAuthRevoked):
        ga_service.calendar_client(saved.google_account_id)


def test_conflict_calendars_cover_connected_accounts_only(account):
    alice = connect(account).google_account_id
    bob = connect(account, "bob@example.com").google_account_id
    ga_service.set_conflict_check(account, alice, "team@group.calendar.google.com", True)
    assert ga_service.read_connections(account).conflict_calendars() == {
        alice: ["alice@example.com", "team@group.calendar.google.com"],
        bob: ["bob@example.com"],
    }
    ga_service.mark_reconnect_needed(bob)
    assert ga_service.read_connections(account).conflict_calendars() == {
        alice: ["alice@example.com", "team@group.calendar.google.com"]}


def test_second_account_does_not_take_the_default_and_reconnect_keeps_choices(account):
    sub = uuid.uuid4().hex
    alice = connect(account, sub=sub).google_account_id
    bob = connect(account, "bob@example.com")
    assert not bob.default_set
    ga_service.set_conflict_check(account, alice, "alice@example.com", False)
    again = connect(account, sub=sub)
    assert again.google_account_id == alice and not again.created
    stored = ga_service.read_connections(account).accounts
    assert len(stored) == 2
    assert not ga_service.calendar(alice, "alice@example.com")["conflict_check"]
    assert [g.email for g in stored] == ["alice@example.com", "bob@example.com"]


def test_only_writable_calendars_can_be_the_default(account):
    gid = connect(account).google_account_id
    with pytest.raises(errors.InvalidInput) as read_only:
        ga_service.set_default_calendar(account, gid, "holidays@group.v.calendar.google.com")
    assert read_only.value.code == "calendar_not_writable"
    ga_service.set_default_calendar(account, gid, "team@group.calendar.google.com")
    assert ga_service.read_connections(account).default_calendar()[1]["summary"] == "Team"


def test_refresh_drops_gone_calendars_and_a_default_that_went_away(account):
    gid = connect(account).google_account_id
    ga_service.set_default_calendar(account, gid, "team@group.calendar.google.com")
    cleared = ga_service.replace_calendars(gid, [
        entry("alice@example.com", "alice@example.com", primary=True),
        entry("new@group.calendar.google.com", "New", role="writer"),
    ])
    assert cleared
    assert {c["summary"] for c in ga_service.calendars(gid)} == {"alice@example.com", "New"}
    with pytest.raises(errors.Conflict):
        ga_service.read_connections(account).default_calendar()


def test_delete_removes_calendars_sync_state_and_the_default(account):
    gid = connect(account).google_account_id
    db().collection("sync_state").document(f"{gid}_abc").set({"sync_token": "x"})
    db().collection("sync_state").document(f"{gid}x_abc").set({"sync_token": "other"})
    assert ga_service.delete(gid)
    assert not ga_service.calendars(gid)
    assert not db().collection("google_accounts").document(gid).get().exists
    assert not db().collection("sync_state").document(f"{gid}_abc").get().exists
    assert db().collection("sync_state").document(f"{gid}x_abc").get().exists
    assert db().collection("accounts").document(account).get().get("default_calendar") is None


def test_concurrent_failures_mark_once_and_notify_once(account, monkeypatch):
    from shared.services import notifications

    sent = []
    monkeypatch.setattr(notifications, "send_reconnect_needed", sent.append)
    gid = connect(account).google_account_id
    results = []
    barrier = threading.Barrier(6)

    def fail():
        barrier.wait()
        results.append(ga_service.mark_reconnect_needed(gid))

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert sent == [gid]
    assert ga_service.get(gid).status == ga_service.RECONNECT_NEEDED
    # Reconnecting re-arms it: the next break is a new email.
    connect(account, sub=ga_service.get(gid).sub)
    assert ga_service.get(gid).connected
    assert ga_service.mark_reconnect_needed(gid) and sent == [gid, gid]


def test_a_failed_email_is_retried_by_the_next_failure(account, monkeypatch):
    from shared.services import notifications

    calls = []

    def flaky(gid):
        calls.append(gid)
        if len(calls) == 1:
            raise errors.UpstreamUnavailable("queue down")

    monkeypatch.setattr(notifications, "send_reconnect_needed", flaky)
    gid = connect(account).google_account_id
    assert ga_service.mark_reconnect_needed(gid)
    assert ga_service.mark_reconnect_needed(gid)
    assert not ga_service.mark_reconnect_needed(gid)
    assert calls == [gid, gid]
