"""Two-way sync against the local stack: channels, the webhook, incremental sync and the busy
cache. Each test connects its own sandbox user, changes its calendar as the Google user through
the sandbox's control API, and watches calbridge follow (the webhook function and the Cloud
Tasks emulator do the work, as in the cloud)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.helpers import sandbox

pytestmark = pytest.mark.stack


def _hour(days: int, hour: int) -> datetime:
    day = datetime.now(timezone.utc).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.fixture
def watched(stack, urls):
    """A connected sandbox user whose primary calendar is watched and fully synced."""
    from shared.services import channels, sync

    email = sandbox.new_user(urls)
    account_id, key, gid = sandbox.connect(urls, email)
    report = channels.ensure_channels(account_id)
    assert report == {"opened": 1, "stopped": 0, "failed": 0}
    state = sandbox.wait_for(lambda: _synced(gid, email), what="first full sync")
    assert state["channel_id"]
    return {"email": email, "account_id": account_id, "key": key, "gid": gid, "sync": sync}


def _state(gid: str, calendar_id: str) -> dict:
    from shared.services import sync

    return sync.state_ref(gid, calendar_id).get().to_dict() or {}


def _synced(gid: str, calendar_id: str) -> dict | None:
    state = _state(gid, calendar_id)
    in_step = state.get("notifications", 0) <= state.get("synced_notifications", 0)
    return state if state.get("in_sync") and state.get("sync_token") and in_step else None


def _lookup(w, start: datetime, end: datetime):
    from shared.services import busy_cache

    return busy_cache.lookup({w["gid"]: [w["email"]]}, start, end)


def test_channel_is_opened_on_the_watched_calendar(watched, urls):
    from shared.services import channels

    ours = channels.of_account(watched["account_id"])
    assert len(ours) == 1 and ours[0].calendar_id == watched["email"]
    at_google = {c["id"]: c for c in sandbox.channels(urls, watched["email"])}
    assert at_google[ours[0].id]["live"]
    assert at_google[ours[0].id]["address"].endswith("/google/notifications")
    # The token is kept only as a hash.
    assert at_google[ours[0].id]["token"] not in str(channels._ref(ours[0].id).get().to_dict())


def test_busy_cache_follows_google_and_serves_lookups_without_google(watched, urls):
    start, end = _hour(2, 9), _hour(2, 10)
    event = sandbox.create_event(urls, watched["email"], {
        "summary": "Dentist", "start": _iso(start), "end": _iso(end)})
    sandbox.create_event(urls, watched["email"], {
        "summary": "Free time", "start": _iso(_hour(2, 12)), "end": _iso(_hour(2, 13)),
        "transparency": "transparent"})
    window = (_hour(1, 0), _hour(4, 0))

    def cached():
        answer = _lookup(watched, *window)
        return answer if answer.busy.get((watched["gid"], watched["email"])) else None

    sandbox.flush(urls)
    answer = sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and cached(),
                              what="events in the busy cache")
    assert answer.busy[(watched["gid"], watched["email"])] == [(start, end)]
    assert answer.unserved == {}

    before = sandbox.last_request_seq(urls)
    for _ in range(5):
        _lookup(watched, *window)
    assert sandbox.requests_since(urls, before, email=watched["email"]) == []

    sandbox.patch_event(urls, watched["email"], event["id"], {
        "start": {"dateTime": _iso(_hour(3, 9))}, "end": {"dateTime": _iso(_hour(3, 10))}})
    # One lookup per try: the calendar may leave the cache between two (a sync in progress).
    sandbox.wait_for(lambda: (found := cached()) and found.busy[(watched["gid"], watched["email"])]
                     == [(_hour(3, 9), _hour(3, 10))], what="moved event in the cache")
    sandbox.delete_event(urls, watched["email"], event["id"])
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and not cached(),
                     what="deleted event gone from the cache")


def test_lookup_falls_back_when_the_cache_cannot_be_trusted(watched):
    from shared.services import busy_cache, sync

    gid, cal = watched["gid"], watched["email"]
    window = (_hour(1, 0), _hour(2, 0))
    assert _lookup(watched, *window).unserved == {}
    ref = sync.state_ref(gid, cal)
    state = ref.get().to_dict()
    now = datetime.now(timezone.utc)
    assert busy_cache.serves(state, *window, now)
    # behind: a notification arrived after the last sync began
    assert not busy_cache.serves({**state, "notifications": state["synced_notifications"] + 1},
                                 *window, now)
    # channel expired, or marked failed by the renewal
    assert not busy_cache.serves({**state, "channel_expiration": now}, *window, now)
    assert not busy_cache.serves({**state, "channel_failed": True}, *window, now)
    # beyond the cached window, or too old
    assert not busy_cache.serves(state, now, state["cached_until"] + timedelta(hours=1), now)
    assert not busy_cache.serves(state, *window, now + busy_cache.MAX_STALENESS * 2)
    # never synced / unknown calendar
    answer = busy_cache.lookup({gid: [cal, "other@example.com"]}, *window)
    assert answer.unserved == {gid: ["other@example.com"]}


def test_one_notification_costs_one_events_list_call(watched, urls):
    before = sandbox.last_request_seq(urls)
    sandbox.create_event(urls, watched["email"], {
        "summary": "Call", "start": _iso(_hour(5, 9)), "end": _iso(_hour(5, 10))})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and _lookup(
        watched, _hour(5, 0), _hour(6, 0)).all_busy, what="sync after the change")
    calls = [r for r in sandbox.requests_since(urls, before, email=watched["email"])
             if r.get("calendar_method")]
    assert [r["calendar_method"] for r in calls] == ["calendar.events.list"]


def test_duplicate_notifications_run_one_sync(watched, urls):
    from shared.adapters.firestore import db
    from shared.services import channels

    sandbox.control(urls, "notifications", {"mode": "duplicate"})
    before = sandbox.last_request_seq(urls)
    sandbox.create_event(urls, watched["email"], {
        "summary": "Twice told", "start": _iso(_hour(6, 9)), "end": _iso(_hour(6, 10))})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and _lookup(
        watched, _hour(6, 0), _hour(7, 0)).all_busy, what="sync after duplicated message")
    channel = channels.of_account(watched["account_id"])[0]
    log = requests.get(f"{urls['google_sandbox']}/control/notifications", timeout=5).json()["log"]
    sent = [e for e in log if e["channel_id"] == channel.id and e["resource_state"] == "exists"]
    assert len(sent) == 2 and sent[0]["message_number"] == sent[1]["message_number"]
    assert {e["outcome"] for e in sent} == {"delivered"}
    state = _state(watched["gid"], watched["email"])
    assert state["notifications"] == 1  # the copy was recognised as a duplicate
    number = sent[0]["message_number"]
    marker = db().collection(channels.MESSAGES).document(f"{channel.id}_{number}").get()
    assert marker.exists
    lists = [r for r in sandbox.requests_since(urls, before, email=watched["email"])
             if r.get("calendar_method") == "calendar.events.list"]
    assert len(lists) == 1


def test_expired_sync_token_triggers_a_full_resync(watched, urls):
    sandbox.create_event(urls, watched["email"], {
        "summary": "Before", "start": _iso(_hour(2, 14)), "end": _iso(_hour(2, 15))})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and _lookup(
        watched, _hour(2, 0), _hour(3, 0)).all_busy, what="first event synced")
    old_token = _state(watched["gid"], watched["email"])["sync_token"]
    sandbox.control(urls, "sync_tokens/invalidate", {"calendarId": watched["email"]})
    result = sandbox.sync_now(watched["gid"], watched["email"])
    assert result.status == "synced" and result.full
    state = _state(watched["gid"], watched["email"])
    assert state["sync_token"] != old_token
    assert [b["start"] for b in state["busy"]] == [_hour(2, 14)]


def test_forged_notifications_are_ignored(watched, urls):
    from shared.services import channels

    channel = channels.of_account(watched["account_id"])[0]
    hook = f"{urls['webhook']}/google/notifications"
    base = {"X-Goog-Channel-ID": channel.id, "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "99", "X-Goog-Resource-ID": channel.resource_id}
    wrong = requests.post(hook, headers={**base, "X-Goog-Channel-Token": "guess"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "bad_channel_token"
    unknown = requests.post(hook, headers={**base, "X-Goog-Channel-ID": "not-a-channel",
                                           "X-Goog-Channel-Token": "x"}, timeout=5)
    assert unknown.status_code == 200 and unknown.json() == {"status": "unknown"}
    garbage = requests.post(hook, headers={"X-Goog-Channel-ID": channel.id,
                                           "X-Goog-Resource-State": "maybe",
                                           "X-Goog-Message-Number": "-1"}, timeout=5)
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "validation_failed"
    state = _state(watched["gid"], watched["email"])
    assert state.get("notifications", 0) == 0


def _short_lived_channel(w, urls):
    """Swap the calendar's channel for one that expires within the renewal window."""
    from shared.services import channels

    first = channels.of_account(w["account_id"])[0]
    short = channels.open_channel(w["account_id"], w["gid"], w["email"], ttl=timedelta(hours=1))
    channels.stop_channel(first)
    return short


def test_expiring_channel_is_renewed_then_the_old_one_stopped(watched, urls):
    from shared.services import channels

    old = _short_lived_channel(watched, urls)
    sandbox.control(urls, "channels/expire", {"id": old.id})
    report = channels.renew_expiring()
    assert report["renewed"] >= 1 and report["synced"] >= 1
    new = channels.of_account(watched["account_id"])
    assert len(new) == 1 and new[0].id != old.id
    assert new[0].expiration > datetime.now(timezone.utc) + timedelta(days=6)
    at_google = {c["id"]: c for c in sandbox.channels(urls, watched["email"])}
    assert at_google[new[0].id]["live"] and at_google[old.id]["stopped"]
    assert _state(watched["gid"], watched["email"])["channel_id"] == new[0].id
    # the new channel carries changes
    sandbox.create_event(urls, watched["email"], {
        "summary": "After renewal", "start": _iso(_hour(8, 9)), "end": _iso(_hour(8, 10))})
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and _lookup(
        watched, _hour(8, 0), _hour(9, 0)).all_busy, what="change through the new channel")


def test_failed_renewal_marks_the_calendar_for_freebusy(watched, urls):
    from shared.services import channels

    old = _short_lived_channel(watched, urls)
    assert _lookup(watched, _hour(1, 0), _hour(2, 0)).unserved == {}
    sandbox.control(urls, "faults", {"method": "POST", "path_regex": "/events/watch",
                                     "email": watched["email"], "status": 403,
                                     "reason": "forbidden", "count": 1})
    report = channels.renew_expiring()
    assert report["failed"] >= 1
    assert [c.id for c in channels.of_account(watched["account_id"])] == [old.id]
    answer = _lookup(watched, _hour(1, 0), _hour(2, 0))
    assert answer.unserved == {watched["gid"]: [watched["email"]]}
    # the next run tries again, succeeds, and the cache serves again
    assert channels.renew_expiring()["retried"] >= 1
    assert [c.id for c in channels.of_account(watched["account_id"])] != [old.id]
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and not _lookup(
        watched, _hour(1, 0), _hour(2, 0)).unserved, what="cache serving again")


def test_stop_for_google_account_stops_every_channel(watched, urls):
    from shared.services import channels

    old = channels.of_account(watched["account_id"])[0]
    assert channels.stop_for_google_account(watched["gid"]) == 1
    assert channels.of_account(watched["account_id"]) == []
    assert not {c["id"]: c for c in sandbox.channels(urls)}[old.id]["live"]
    assert _state(watched["gid"], watched["email"]) == {}


def test_revoked_google_account_is_marked_and_lookups_fall_back(watched, urls):
    from shared.adapters.google_calendar import forget_token
    from shared.services import google_accounts

    sandbox.control(urls, f"users/{watched['email']}/revoke")
    sandbox.control(urls, "tokens/expire", {"email": watched["email"]})
    forget_token(watched["gid"])
    result = sandbox.sync_now(watched["gid"], watched["email"])
    assert result.status == "reconnect_needed"
    assert google_accounts.get(watched["gid"]).status == google_accounts.RECONNECT_NEEDED
    assert _lookup(watched, _hour(1, 0), _hour(2, 0)).unserved == {
        watched["gid"]: [watched["email"]]}


def test_slot_lookups_use_the_cache_and_confirmation_asks_google(watched, urls):
    from shared.services import availability, google_accounts

    start, end = _hour(2, 16), _hour(2, 17)
    sandbox.create_event(urls, watched["email"], {
        "summary": "Busy", "start": _iso(start), "end": _iso(end)})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]) and _lookup(
        watched, _hour(2, 0), _hour(3, 0)).all_busy, what="event cached")
    window = (_hour(1, 0), _hour(9, 0))
    before = sandbox.last_request_seq(urls)
    connected = google_accounts.read_connections(watched["account_id"]).accounts
    assert availability.google_busy(connected, *window) == [(start, end)]
    assert sandbox.requests_since(urls, before, email=watched["email"]) == []
    live = availability.google_busy(connected, *window, live=True)
    assert live == [(start, end)]
    calls = sandbox.requests_since(urls, before, email=watched["email"])
    assert [c["calendar_method"] for c in calls] == ["calendar.freebusy.query"]


def test_calendar_whose_watch_failed_is_retried_by_the_renewal(stack, urls):
    from shared.services import channels

    email = sandbox.new_user(urls)
    account_id, _, gid = sandbox.connect(urls, email)
    sandbox.control(urls, "faults", {"method": "POST", "path_regex": "/events/watch",
                                     "email": email, "status": 403, "reason": "forbidden"})
    assert channels.ensure_channels(account_id)["failed"] == 1
    assert channels.of_account(account_id) == []
    assert _state(gid, email)["channel_failed"]
    report = channels.renew_expiring()
    assert report["retried"] >= 1
    assert [c.calendar_id for c in channels.of_account(account_id)] == [email]
    w = {"gid": gid, "email": email}
    sandbox.wait_for(lambda: _synced(gid, email) and not _lookup(
        w, _hour(1, 0), _hour(2, 0)).unserved, what="cache serving after the retry")


def test_webhook_answers_each_kind_of_message(watched, urls):
    from shared.services import channels

    channel = channels.of_account(watched["account_id"])[0]
    token = {c["id"]: c for c in sandbox.channels(urls)}[channel.id]["token"]
    hook = f"{urls['webhook']}/google/notifications"
    headers = {"X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": token,
               "X-Goog-Resource-ID": channel.resource_id, "X-Goog-Message-Number": "1000",
               "X-Goog-Resource-State": "sync"}
    answers = [requests.post(hook, headers=headers, timeout=5).json()["status"]]
    headers["X-Goog-Resource-State"] = "exists"
    answers += [requests.post(hook, headers=headers, timeout=5).json()["status"]
                for _ in range(2)]
    assert answers == ["ignored", "queued", "duplicate"]
    sandbox.wait_for(lambda: _synced(watched["gid"], watched["email"]), what="sync ran")


def test_unknown_channel_on_a_watched_resource_is_stopped(watched, urls):
    from shared.services import google_accounts

    stray = f"stray-{uuid.uuid4()}"
    google_accounts.calendar_client(watched["gid"]).watch(
        watched["email"], channel_id=stray, token="t", ttl_seconds=3600,
        address=f"{urls['webhook']}/google/notifications")
    sandbox.create_event(urls, watched["email"], {
        "summary": "Wakes the stray", "start": _iso(_hour(9, 9)), "end": _iso(_hour(9, 10))})
    sandbox.flush(urls)
    sandbox.wait_for(lambda: {c["id"]: c for c in sandbox.channels(urls)}[stray]["stopped"],
                     what="stray channel stopped")


def test_free_busy_only_calendars_are_not_watched_and_always_asked_live(stack, urls):
    from shared.services import availability, channels, google_accounts

    email = sandbox.new_user(urls)
    shared = sandbox.control(urls, f"users/{email}/calendars",
                             {"summary": "Colleague", "accessRole": "freeBusyReader"})
    account_id, _, gid = sandbox.connect(urls, email)
    google_accounts.set_conflict_check(account_id, gid, shared["id"], True)
    channels.ensure_channels(account_id)
    assert [c.calendar_id for c in channels.of_account(account_id)] == [email]
    sandbox.wait_for(lambda: _synced(gid, email), what="primary synced")
    before = sandbox.last_request_seq(urls)
    availability.google_busy(google_accounts.read_connections(account_id).accounts, _hour(1, 0),
                             _hour(2, 0))
    calls = sandbox.requests_since(urls, before, email=email)
    assert [c["calendar_method"] for c in calls] == ["calendar.freebusy.query"]


def test_renewal_route_runs_the_renewal_and_rejects_bad_input(watched, urls):
    from shared.services import channels

    old = _short_lived_channel(watched, urls)
    route = f"{urls['webhook']}/tasks/renew-channels"
    answer = requests.post(route, json={"within_hours": 2}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["renewed"] >= 1 and answer.json()["synced"] >= 1
    assert [c.id for c in channels.of_account(watched["account_id"])] != [old.id]
    bad = requests.post(route, json={"within_hours": -1}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_failed"
    sync_bad = requests.post(f"{urls['webhook']}/tasks/sync", json={"calendar_id": "x"},
                             timeout=10)
    assert sync_bad.status_code == 400
