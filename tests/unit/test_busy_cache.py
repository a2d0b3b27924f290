"""The busy cache's rules without I/O: what blocks a calendar, how changes merge, and when the
cached copy may answer a lookup."""

from datetime import datetime, timedelta, timezone

from shared.services import busy_cache

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _event(event_id="e1", start="2026-03-03T09:00:00Z", end="2026-03-03T10:00:00Z", **extra):
    return {"id": event_id, "status": "confirmed", "start": {"dateTime": start},
            "end": {"dateTime": end}, **extra}


def test_what_blocks_time_follows_freebusy():
    assert busy_cache.busy_interval(_event(), "UTC") == (
        datetime(2026, 3, 3, 9, tzinfo=UTC), datetime(2026, 3, 3, 10, tzinfo=UTC))
    assert busy_cache.busy_interval(_event(start="2026-03-03T10:00:00+01:00",
                                           end="2026-03-03T11:00:00+01:00"), "UTC")[0] == \
        datetime(2026, 3, 3, 9, tzinfo=UTC)
    assert busy_cache.busy_interval(_event(status="cancelled"), "UTC") is None
    assert busy_cache.busy_interval(_event(transparency="transparent"), "UTC") is None
    assert busy_cache.busy_interval(_event(eventType="workingLocation"), "UTC") is None
    declined = [{"email": "me@example.com", "self": True, "responseStatus": "declined"}]
    assert busy_cache.busy_interval(_event(attendees=declined), "UTC") is None
    guest_declined = [{"email": "g@example.com", "responseStatus": "declined"}]
    assert busy_cache.busy_interval(_event(attendees=guest_declined), "UTC") is not None
    assert busy_cache.busy_interval({"id": "x", "status": "cancelled"}, "UTC") is None


def test_all_day_events_block_the_day_in_the_calendars_zone():
    event = {"id": "d", "status": "confirmed", "start": {"date": "2026-03-03"},
             "end": {"date": "2026-03-04"}}
    assert busy_cache.busy_interval(event, "Europe/Berlin") == (
        datetime(2026, 3, 2, 23, tzinfo=UTC), datetime(2026, 3, 3, 23, tzinfo=UTC))


def test_merge_applies_moves_deletions_and_drops_the_past():
    until = NOW + busy_cache.HORIZON
    first = busy_cache.merge(None, [_event("a"), _event("b", "2026-03-01T09:00:00Z",
                                                          "2026-03-01T10:00:00Z")],
                             "UTC", now=NOW, until=until)
    assert [b["id"] for b in first] == ["a"]  # b is over
    moved = busy_cache.merge(first, [_event("a", "2026-03-05T09:00:00Z", "2026-03-05T10:00:00Z"),
                                     _event("c", "2026-03-04T09:00:00Z", "2026-03-04T09:30:00Z")],
                             "UTC", now=NOW, until=until)
    assert [(b["id"], b["start"].day) for b in moved] == [("c", 4), ("a", 5)]
    gone = busy_cache.merge(moved, [{"id": "a", "status": "cancelled"},
                                    _event("c", transparency="transparent")],
                            "UTC", now=NOW, until=until)
    assert gone == []
    far = NOW + busy_cache.HORIZON + timedelta(days=1)
    beyond = _event("f", far.isoformat(), (far + timedelta(hours=1)).isoformat())
    assert busy_cache.merge(None, [beyond], "UTC", now=NOW, until=until) == []


def test_merge_gives_up_on_calendars_too_large_to_cache(monkeypatch):
    monkeypatch.setattr(busy_cache, "MAX_INTERVALS", 2)
    events = [_event(str(i), f"2026-03-0{i + 3}T09:00:00Z", f"2026-03-0{i + 3}T10:00:00Z")
              for i in range(3)]
    assert busy_cache.merge(None, events, "UTC", now=NOW, until=NOW + busy_cache.HORIZON) is None


def _state(**changes) -> dict:
    state = {
        "in_sync": True, "cacheable": True, "channel_failed": False,
        "channel_expiration": NOW + timedelta(days=6), "last_synced_at": NOW - timedelta(minutes=5),
        "notifications": 3, "synced_notifications": 3,
        "cached_from": NOW - timedelta(days=1), "cached_until": NOW + timedelta(days=170),
        "busy": [],
    }
    state.update(changes)
    return state


def test_the_cache_answers_only_while_it_can_prove_it_is_current():
    window = (NOW, NOW + timedelta(days=7))
    assert busy_cache.serves(_state(), *window, NOW)
    refused = [
        _state(in_sync=False),
        _state(cacheable=False),
        _state(channel_failed=True),
        _state(channel_expiration=NOW + timedelta(minutes=1)),
        _state(channel_expiration=None),
        _state(last_synced_at=NOW - timedelta(hours=3)),
        _state(notifications=4),
        _state(cached_until=NOW + timedelta(days=3)),
        _state(cached_from=NOW + timedelta(hours=1)),
        {},
    ]
    assert [busy_cache.serves(s, *window, NOW) for s in refused] == [False] * len(refused)
