"""Calendar v3 through googleapiclient built exactly like production (api_endpoint only)."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from googleapiclient.errors import HttpError

from .conftest import CAL

ALICE = "alice@example.com"
BOB = "bob@example.com"
HOLIDAYS = "en.german#holiday@group.v.calendar.google.com"
TEAM = "c_team.alice@group.calendar.google.com"


def error_of(exc: HttpError) -> dict:
    return json.loads(exc.content)["error"]


def event_body(summary="Sync", start="2030-05-06T10:00:00+02:00", end="2030-05-06T11:00:00+02:00", **extra):
    return {"summary": summary, "start": {"dateTime": start}, "end": {"dateTime": end}, **extra}


def log_since(base, seq):
    return requests.get(f"{base}/control/requests", params={"since": seq}, timeout=5).json()["requests"]


def last_seq(base):
    return requests.get(f"{base}/control/requests", timeout=5).json()["last_seq"]


def test_client_reaches_sandbox_paths(base, service_for):
    svc = service_for()
    seq = last_seq(base)
    svc.events().insert(calendarId="primary", body=event_body()).execute()
    svc.events().list(calendarId=HOLIDAYS).execute()
    svc.freebusy().query(body={"timeMin": "2030-05-06T00:00:00Z", "timeMax": "2030-05-07T00:00:00Z",
                               "items": [{"id": "primary"}]}).execute()
    log = log_since(base, seq)
    assert [(r["method"], r["path"], r["calendar_method"]) for r in log] == [
        ("POST", "/calendar/v3/calendars/primary/events", "calendar.events.insert"),
        ("GET", f"/calendar/v3/calendars/{HOLIDAYS}/events", "calendar.events.list"),
        ("POST", "/calendar/v3/freeBusy", "calendar.freebusy.query"),
    ]
    assert all(r["email"] == ALICE and r["status"] == 200 for r in log)


def test_calendar_list_and_get(service_for):
    svc = service_for(ALICE, (f"{CAL}.readonly",))
    items = svc.calendarList().list().execute()["items"]
    by_id = {c["id"]: c for c in items}
    assert items[0]["id"] == ALICE and items[0]["primary"] is True and items[0]["accessRole"] == "owner"
    assert by_id[ALICE]["defaultReminders"] == [{"method": "popup", "minutes": 10}, {"method": "email", "minutes": 30}]
    assert by_id[HOLIDAYS]["accessRole"] == "reader" and by_id[TEAM]["summary"] == "Team"
    assert all(c["timeZone"] == "Europe/Berlin" and c["backgroundColor"].startswith("#") for c in items)
    page1 = svc.calendarList().list(maxResults=2).execute()
    page2 = svc.calendarList().list(maxResults=2, pageToken=page1["nextPageToken"]).execute()
    assert [c["id"] for c in page1["items"] + page2["items"]] == [c["id"] for c in items]
    assert "nextSyncToken" in page2
    assert svc.calendarList().get(calendarId="primary").execute()["id"] == ALICE
    assert svc.calendars().get(calendarId=HOLIDAYS).execute()["summary"] == "Holidays in Germany"
    with pytest.raises(HttpError) as exc:
        svc.calendars().get(calendarId="nobody@example.com").execute()
    assert exc.value.resp.status == 404 and error_of(exc.value)["errors"][0]["reason"] == "notFound"
    owners = svc.calendarList().list(minAccessRole="owner").execute()["items"]
    assert {c["id"] for c in owners} == {ALICE, TEAM}


def test_insert_with_meet_and_fields(service_for):
    svc = service_for()
    body = event_body(
        attendees=[{"email": BOB}, {"email": ALICE}],
        conferenceData={"createRequest": {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}},
        extendedProperties={"private": {"bookingId": "b1"}, "shared": {"source": "calbridge"}},
        reminders={"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]},
    )
    ev = svc.events().insert(calendarId="primary", body=body, conferenceDataVersion=1, sendUpdates="all").execute()
    conf = ev["conferenceData"]
    assert conf["createRequest"]["status"]["statusCode"] == "success"
    assert conf["entryPoints"][0]["entryPointType"] == "video"
    assert conf["entryPoints"][0]["uri"].startswith("https://meet.google.com/")
    assert ev["hangoutLink"] == conf["entryPoints"][0]["uri"]
    assert conf["conferenceSolution"]["key"]["type"] == "hangoutsMeet" and conf["conferenceId"]
    assert ev["status"] == "confirmed" and ev["sequence"] == 0
    assert ev["organizer"] == {"email": ALICE, "self": True} and ev["creator"] == {"email": ALICE, "self": True}
    atts = {a["email"]: a for a in ev["attendees"]}
    assert atts[BOB]["responseStatus"] == "needsAction"
    assert atts[ALICE]["responseStatus"] == "accepted" and atts[ALICE]["organizer"] and atts[ALICE]["self"]
    assert ev["start"] == {"dateTime": "2030-05-06T10:00:00+02:00"}
    assert ev["etag"].startswith('"') and ev["iCalUID"] == ev["id"] + "@google.com"
    assert ev["extendedProperties"]["private"] == {"bookingId": "b1"}
    # conferenceDataVersion=0 silently drops conference data.
    plain = svc.events().insert(calendarId="primary", body=body).execute()
    assert "conferenceData" not in plain and "hangoutLink" not in plain
    # Partial response.
    got = svc.events().get(calendarId="primary", eventId=ev["id"], fields="id,start(dateTime)").execute()
    assert got == {"id": ev["id"], "start": {"dateTime": "2030-05-06T10:00:00+02:00"}}


def test_client_chosen_id_and_duplicate(service_for):
    svc = service_for()
    ev = svc.events().insert(calendarId="primary", body=event_body(id="booking0001")).execute()
    assert ev["id"] == "booking0001"
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId="primary", body=event_body(id="booking0001")).execute()
    assert exc.value.resp.status == 409 and error_of(exc.value)["errors"][0]["reason"] == "duplicate"
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId="primary", body=event_body(id="Not_Base32hex")).execute()
    assert exc.value.resp.status == 400


def test_list_filters_and_paging(service_for):
    svc = service_for()
    for i in range(5):
        svc.events().insert(calendarId="primary", body=event_body(
            f"E{i}", f"2030-05-0{i + 1}T09:00:00Z", f"2030-05-0{i + 1}T10:00:00Z",
            extendedProperties={"private": {"bookingId": f"b{i}", "kind": "booking" if i % 2 else "other"}},
        )).execute()
    only = svc.events().list(calendarId="primary", privateExtendedProperty="bookingId=b3").execute()["items"]
    assert [e["summary"] for e in only] == ["E3"]
    both = svc.events().list(calendarId="primary",
                             privateExtendedProperty=["kind=booking", "bookingId=b1"]).execute()["items"]
    assert [e["summary"] for e in both] == ["E1"]
    window = svc.events().list(calendarId="primary", timeMin="2030-05-02T00:00:00Z", timeMax="2030-05-04T00:00:00Z",
                               singleEvents=True, orderBy="startTime").execute()["items"]
    assert [e["summary"] for e in window] == ["E1", "E2"]
    seen, token, pages = [], None, 0
    while True:
        resp = svc.events().list(calendarId="primary", maxResults=2, pageToken=token,
                                 singleEvents=True, orderBy="startTime").execute()
        pages += 1
        seen += [e["summary"] for e in resp["items"]]
        token = resp.get("nextPageToken")
        if not token:
            assert "nextSyncToken" in resp
            break
        assert "nextSyncToken" not in resp
    assert pages == 3 and seen == ["E0", "E1", "E2", "E3", "E4"]
    assert [e["summary"] for e in svc.events().list(calendarId="primary", q="e3").execute()["items"]] == ["E3"]


def test_sync_tokens(base, service_for):
    svc = service_for()
    a = svc.events().insert(calendarId="primary", body=event_body("A")).execute()
    b = svc.events().insert(calendarId="primary", body=event_body("B")).execute()
    full = svc.events().list(calendarId="primary").execute()
    token = full["nextSyncToken"]
    assert svc.events().list(calendarId="primary", syncToken=token).execute()["items"] == []
    svc.events().patch(calendarId="primary", eventId=a["id"], body={"summary": "A2"}).execute()
    svc.events().delete(calendarId="primary", eventId=b["id"]).execute()
    c = svc.events().insert(calendarId="primary", body=event_body("C")).execute()
    delta = svc.events().list(calendarId="primary", syncToken=token).execute()
    assert {(e["id"], e["status"]) for e in delta["items"]} == {
        (a["id"], "confirmed"), (b["id"], "cancelled"), (c["id"], "confirmed")}
    token2 = delta["nextSyncToken"]
    assert svc.events().list(calendarId="primary", syncToken=token2).execute()["items"] == []
    with pytest.raises(HttpError) as exc:
        svc.events().list(calendarId="primary", syncToken=token2, timeMin="2030-01-01T00:00:00Z").execute()
    assert exc.value.resp.status == 400
    requests.post(f"{base}/control/sync_tokens/invalidate", json={"calendarId": ALICE}, timeout=5).raise_for_status()
    with pytest.raises(HttpError) as exc:
        svc.events().list(calendarId="primary", syncToken=token2).execute()
    err = error_of(exc.value)
    assert exc.value.resp.status == 410 and err["errors"][0]["reason"] == "fullSyncRequired"
    assert err["message"] == "Sync token is no longer valid, a full sync is required."
    with pytest.raises(HttpError) as exc:
        svc.events().list(calendarId="primary", syncToken="garbage").execute()
    assert exc.value.resp.status == 410


def test_patch_update_if_match_and_delete(base, service_for):
    svc = service_for()
    ev = svc.events().insert(calendarId="primary", body=event_body(
        attendees=[{"email": BOB}], extendedProperties={"private": {"a": "1", "b": "2"}})).execute()
    renamed = svc.events().patch(calendarId="primary", eventId=ev["id"], body={
        "summary": "Renamed", "extendedProperties": {"private": {"b": "3"}}}).execute()
    assert renamed["sequence"] == 0 and renamed["etag"] != ev["etag"]
    assert renamed["extendedProperties"]["private"] == {"a": "1", "b": "3"}  # objects merge on patch
    assert renamed["attendees"][0]["email"] == BOB
    moved = svc.events().patch(calendarId="primary", eventId=ev["id"], body={
        "start": {"dateTime": "2030-05-06T12:00:00+02:00"}, "end": {"dateTime": "2030-05-06T13:00:00+02:00"},
        "attendees": []}).execute()
    assert moved["sequence"] == 1 and "attendees" not in moved  # arrays replace whole

    stale = svc.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "x"})
    stale.headers["If-Match"] = renamed["etag"]
    with pytest.raises(HttpError) as exc:
        stale.execute()
    assert exc.value.resp.status == 412 and error_of(exc.value)["errors"][0]["reason"] == "conditionNotMet"
    fresh = svc.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "ok"})
    fresh.headers["If-Match"] = moved["etag"]
    assert fresh.execute()["summary"] == "ok"

    replaced = svc.events().update(calendarId="primary", eventId=ev["id"], body=event_body("Full")).execute()
    assert replaced["summary"] == "Full" and "extendedProperties" not in replaced
    assert replaced["sequence"] == 2  # moved back to 10:00

    svc.events().delete(calendarId="primary", eventId=ev["id"], sendUpdates="none").execute()
    gone = svc.events().get(calendarId="primary", eventId=ev["id"]).execute()
    assert gone["status"] == "cancelled"
    with pytest.raises(HttpError) as exc:
        svc.events().delete(calendarId="primary", eventId=ev["id"]).execute()
    assert exc.value.resp.status == 410 and error_of(exc.value)["errors"][0]["reason"] == "deleted"
    with pytest.raises(HttpError) as exc:
        svc.events().get(calendarId="primary", eventId="doesnotexist").execute()
    assert exc.value.resp.status == 404
    listed = svc.events().list(calendarId="primary").execute()["items"]
    assert listed == []
    assert len(svc.events().list(calendarId="primary", showDeleted=True).execute()["items"]) == 1
    log = requests.get(f"{base}/control/requests", params={"calendar_method": "calendar.events.delete"},
                       timeout=5).json()["requests"]
    assert [r for r in log if r["status"] == 204][-1]["query"]["sendUpdates"] == ["none"]


def test_freebusy(service_for, base):
    alice = service_for()
    alice.events().insert(calendarId="primary", body=event_body("1", "2030-05-06T08:00:00Z", "2030-05-06T09:00:00Z")).execute()
    alice.events().insert(calendarId="primary", body=event_body("2", "2030-05-06T08:30:00Z", "2030-05-06T10:00:00Z")).execute()
    alice.events().insert(calendarId="primary", body=event_body(
        "free", "2030-05-06T12:00:00Z", "2030-05-06T13:00:00Z", transparency="transparent")).execute()
    gone = alice.events().insert(calendarId="primary", body=event_body(
        "gone", "2030-05-06T14:00:00Z", "2030-05-06T15:00:00Z")).execute()
    alice.events().delete(calendarId="primary", eventId=gone["id"]).execute()
    alice.events().insert(calendarId="primary", body=event_body(
        "edge", "2030-05-06T23:00:00Z", "2030-05-07T02:00:00Z")).execute()
    body = {"timeMin": "2030-05-06T00:00:00Z", "timeMax": "2030-05-07T00:00:00Z",
            "items": [{"id": "primary"}, {"id": "nobody@example.com"}, {"id": TEAM}]}
    resp = alice.freebusy().query(body=body).execute()
    assert resp["calendars"]["primary"]["busy"] == [
        {"start": "2030-05-06T08:00:00Z", "end": "2030-05-06T10:00:00Z"},
        {"start": "2030-05-06T23:00:00Z", "end": "2030-05-07T00:00:00Z"},
    ]
    assert resp["calendars"]["nobody@example.com"]["errors"] == [{"domain": "global", "reason": "notFound"}]
    assert resp["calendars"][TEAM]["busy"] == []
    # Bob only has freeBusyReader on Alice's calendar: freeBusy works, events do not.
    bob = service_for(BOB, (CAL,))
    bob_view = bob.freebusy().query(body={**body, "items": [{"id": ALICE}], "timeZone": "Europe/Berlin"}).execute()
    assert bob_view["calendars"][ALICE]["busy"][0] == {"start": "2030-05-06T10:00:00+02:00",
                                                        "end": "2030-05-06T12:00:00+02:00"}
    with pytest.raises(HttpError) as exc:
        bob.events().list(calendarId=ALICE).execute()
    assert exc.value.resp.status == 403 and error_of(exc.value)["errors"][0]["reason"] == "requiredAccessLevel"
    for bad, reason in (({"timeMin": body["timeMax"], "timeMax": body["timeMin"]}, "timeRangeEmpty"),
                        ({"timeMax": "2030-09-01T00:00:00Z"}, "timeRangeTooLong")):
        with pytest.raises(HttpError) as exc:
            alice.freebusy().query(body={**body, **bad}).execute()
        assert exc.value.resp.status == 400 and error_of(exc.value)["errors"][0]["reason"] == reason


def test_access_roles(service_for):
    svc = service_for()
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId=HOLIDAYS, body=event_body()).execute()
    err = error_of(exc.value)
    assert exc.value.resp.status == 403 and err["errors"][0]["reason"] == "requiredAccessLevel"
    assert err["message"] == "You need to have writer access to this calendar."
    assert svc.events().insert(calendarId=TEAM, body=event_body()).execute()["organizer"] == {
        "email": TEAM, "displayName": "Team", "self": True}


def test_scope_enforcement(service_for):
    ro = service_for(ALICE, (f"{CAL}.readonly",))
    ro.events().list(calendarId="primary").execute()
    with pytest.raises(HttpError) as exc:
        ro.events().insert(calendarId="primary", body=event_body()).execute()
    err = error_of(exc.value)
    assert exc.value.resp.status == 403 and err["errors"][0]["reason"] == "insufficientPermissions"
    assert err["status"] == "PERMISSION_DENIED"
    fb = service_for(ALICE, (f"{CAL}.freebusy",))
    fb.freebusy().query(body={"timeMin": "2030-05-06T00:00:00Z", "timeMax": "2030-05-07T00:00:00Z",
                              "items": [{"id": "primary"}]}).execute()
    with pytest.raises(HttpError) as exc:
        fb.calendarList().list().execute()
    assert exc.value.resp.status == 403
    owned = service_for(ALICE, (f"{CAL}.events.owned",))
    owned.events().insert(calendarId="primary", body=event_body()).execute()
    with pytest.raises(HttpError) as exc:
        owned.events().list(calendarId=HOLIDAYS).execute()  # reader, not owner
    assert exc.value.resp.status == 403


def test_discovery_validation(base, oauth, service_for):
    token = oauth.tokens(scopes=(CAL,))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{base}/calendar/v3/calendars/primary/events"
    r = requests.get(url, params={"bogus": "1"}, headers=auth, timeout=5)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "Unknown name \"bogus\"" in err["message"]
    r = requests.get(url, params={"maxResults": "abc"}, headers=auth, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "invalidParameter"
    r = requests.get(url, params={"orderBy": "random"}, headers=auth, timeout=5)
    assert r.status_code == 400
    r = requests.post(url, json={**event_body(), "start": {"dateTime": "2030-05-06T10:00:00Z", "tz": "x"}},
                      headers=auth, timeout=5)
    assert r.status_code == 400 and "Unknown name \"tz\" at 'resource.start'" in r.json()["error"]["message"]
    r = requests.post(url, json={**event_body(), "attendees": [{"email": BOB, "rsvp": True}]}, headers=auth, timeout=5)
    assert r.status_code == 400 and "resource.attendees[0]" in r.json()["error"]["message"]
    r = requests.post(url, json={**event_body(), "extendedProperties": {"private": {"k": 1}}}, headers=auth, timeout=5)
    assert r.status_code == 400
    r = requests.get(f"{base}/calendar/v3/calendars/primary/nonsense", headers=auth, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["errors"][0]["reason"] == "notFound"
    r = requests.get(f"{base}/calendar/v3/colors", headers=auth, timeout=5)
    assert r.status_code == 501 and "calendar.colors.get" in r.json()["error"]["message"]
    r = requests.get(url, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["errors"][0]["reason"] == "authError"

    # Through the real client: it rejects unknown parameters itself, the server rejects unknown body fields.
    svc = service_for()
    with pytest.raises(TypeError):
        svc.events().list(calendarId="primary", bogus=1)
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId="primary", body={**event_body(), "colour": "red"}).execute()
    assert exc.value.resp.status == 400 and 'Unknown name "colour"' in error_of(exc.value)["message"]


def test_fault_injection_then_retry(base, service_for, monkeypatch):
    import googleapiclient.http as gh

    monkeypatch.setattr(gh.time, "sleep", lambda s: None)  # keep the client's backoff out of test time
    svc = service_for()
    fault = requests.post(f"{base}/control/faults", json={
        "method": "POST", "path_regex": "freeBusy", "status": 429, "reason": "rateLimitExceeded"}, timeout=5).json()
    assert fault["id"]
    body = {"timeMin": "2030-05-06T00:00:00Z", "timeMax": "2030-05-07T00:00:00Z", "items": [{"id": "primary"}]}
    seq = last_seq(base)
    assert svc.freebusy().query(body=body).execute(num_retries=2)["calendars"]["primary"]["busy"] == []
    assert [r["status"] for r in log_since(base, seq)] == [429, 200]
    requests.post(f"{base}/control/faults", json={"path_regex": "events", "status": 403,
                                                  "reason": "rateLimitExceeded", "count": -1}, timeout=5)
    with pytest.raises(HttpError) as exc:
        svc.events().list(calendarId="primary").execute()
    err = error_of(exc.value)
    assert err["errors"][0] == {"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}
    requests.delete(f"{base}/control/faults", timeout=5)
    svc.events().list(calendarId="primary").execute()
    requests.post(f"{base}/control/faults", json={"status": 503, "path_regex": "calendarList"}, timeout=5)
    with pytest.raises(HttpError) as exc:
        svc.calendarList().list().execute()
    assert exc.value.resp.status == 503 and error_of(exc.value)["status"] == "UNAVAILABLE"


def test_latency_fault(base, service_for):
    svc = service_for()
    requests.post(f"{base}/control/faults", json={"latency_ms": 300, "path_regex": "calendarList"}, timeout=5)
    t0 = time.monotonic()
    svc.calendarList().list().execute()
    assert time.monotonic() - t0 >= 0.3


def test_concurrent_freebusy(base, oauth):
    token = oauth.tokens(scopes=(f"{CAL}.freebusy",))["access_token"]
    body = {"timeMin": "2030-05-06T00:00:00Z", "timeMax": "2030-05-07T00:00:00Z", "items": [{"id": "primary"}]}
    requests.post(f"{base}/control/faults", json={"latency_ms": 200, "path_regex": "freeBusy", "count": -1}, timeout=5)
    results: list = []
    barrier = threading.Barrier(50)

    def call():
        barrier.wait()
        r = requests.post(f"{base}/calendar/v3/freeBusy", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        results.append(r.status_code)

    threads = [threading.Thread(target=call) for _ in range(50)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 50
    assert time.monotonic() - t0 < 5  # served in parallel, not 50 x 200 ms


def test_watch_and_push(base, service_for, receiver):
    svc = service_for()
    ch = svc.events().watch(calendarId="primary", body={
        "id": "chan-1", "type": "web_hook", "address": receiver.url, "token": "secret-token",
        "params": {"ttl": "3600"}}).execute()
    assert ch["kind"] == "api#channel" and ch["id"] == "chan-1" and ch["resourceId"]
    assert ch["token"] == "secret-token" and "/calendar/v3/calendars/primary/events" in ch["resourceUri"]
    assert abs(int(ch["expiration"]) / 1000 - time.time() - 3600) < 60
    ev = svc.events().insert(calendarId="primary", body=event_body()).execute()
    requests.patch(f"{base}/control/calendars/{ALICE}/events/{ev['id']}",
                   json={"start": "2030-05-06T12:00:00+02:00", "end": "2030-05-06T13:00:00+02:00"}, timeout=5)
    flushed = requests.post(f"{base}/control/notifications/flush", timeout=10).json()
    assert flushed["delivered"] == 3 and flushed["pending"] == 0
    heads = [m["headers"] for m in receiver.received]
    assert [h["X-Goog-Resource-State"] for h in heads] == ["sync", "exists", "exists"]
    assert [h["X-Goog-Message-Number"] for h in heads] == ["1", "2", "3"]
    h = heads[1]
    assert h["X-Goog-Channel-ID"] == "chan-1" and h["X-Goog-Channel-Token"] == "secret-token"
    assert h["X-Goog-Resource-ID"] == ch["resourceId"] and h["X-Goog-Resource-URI"] == ch["resourceUri"]
    assert h["X-Goog-Channel-Expiration"].endswith("GMT")
    assert all(m["body"] == b"" for m in receiver.received)

    # duplicate mode: the next notification arrives twice with the same message number.
    requests.post(f"{base}/control/notifications", json={"mode": "duplicate"}, timeout=5)
    svc.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "dup"}).execute()
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    assert [m["headers"]["X-Goog-Message-Number"] for m in receiver.received[3:]] == ["4", "4"]
    # drop mode swallows notifications until switched back.
    requests.post(f"{base}/control/notifications", json={"mode": "drop"}, timeout=5)
    svc.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "dropped"}).execute()
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    assert len(receiver.received) == 5
    requests.post(f"{base}/control/notifications", json={"mode": "normal"}, timeout=5)

    svc.channels().stop(body={"id": "chan-1", "resourceId": ch["resourceId"]}).execute()
    svc.events().delete(calendarId="primary", eventId=ev["id"]).execute()
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    assert len(receiver.received) == 5
    with pytest.raises(HttpError) as exc:
        svc.channels().stop(body={"id": "chan-1", "resourceId": ch["resourceId"]}).execute()
    assert exc.value.resp.status == 404


def test_expired_channel_gets_nothing(base, service_for, receiver):
    svc = service_for()
    svc.events().watch(calendarId="primary", body={"id": "c2", "type": "web_hook", "address": receiver.url}).execute()
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    requests.post(f"{base}/control/channels/expire", json={"id": "c2"}, timeout=5).raise_for_status()
    svc.events().insert(calendarId="primary", body=event_body()).execute()
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    assert [m["headers"]["X-Goog-Resource-State"] for m in receiver.received] == ["sync"]
    chans = requests.get(f"{base}/control/channels", timeout=5).json()["channels"]
    assert chans[0]["expired"] is True and chans[0]["live"] is False
    with pytest.raises(HttpError) as exc:
        svc.events().watch(calendarId="primary", body={"id": "c2", "type": "web_hook",
                                                       "address": receiver.url}).execute()
    assert exc.value.resp.status == 400


def test_control_api_acts_as_user(base, service_for, receiver):
    svc = service_for()
    token = svc.events().list(calendarId="primary").execute()["nextSyncToken"]
    svc.events().watch(calendarId="primary", body={"id": "c3", "type": "web_hook", "address": receiver.url}).execute()
    created = requests.post(f"{base}/control/calendars/{ALICE}/events", json={
        "summary": "Dentist", "start": "2030-05-06T15:00:00+02:00", "end": "2030-05-06T16:00:00+02:00",
        "attendees": [{"email": BOB}]}, timeout=5)
    assert created.status_code == 201
    ev = created.json()
    moved = requests.patch(f"{base}/control/calendars/{ALICE}/events/{ev['id']}", json={
        "start": {"dateTime": "2030-05-06T17:00:00+02:00"}, "end": {"dateTime": "2030-05-06T18:00:00+02:00"}},
        timeout=5).json()
    assert moved["sequence"] == 1 and moved["etag"] != ev["etag"]
    rsvp = requests.post(f"{base}/control/calendars/{ALICE}/events/{ev['id']}/respond",
                         json={"email": BOB, "responseStatus": "declined"}, timeout=5).json()
    assert rsvp["attendees"][0]["responseStatus"] == "declined" and rsvp["sequence"] == 1
    delta = svc.events().list(calendarId="primary", syncToken=token).execute()["items"]
    assert [(e["summary"], e["start"]["dateTime"]) for e in delta] == [("Dentist", "2030-05-06T17:00:00+02:00")]
    assert requests.delete(f"{base}/control/calendars/{ALICE}/events/{ev['id']}", timeout=5).status_code == 200
    raw = requests.get(f"{base}/control/calendars/{ALICE}/events", timeout=5).json()["items"]
    assert raw[0]["status"] == "cancelled"
    requests.post(f"{base}/control/notifications/flush", timeout=10)
    assert [m["headers"]["X-Goog-Resource-State"] for m in receiver.received] == ["sync"] + ["exists"] * 4


def test_control_users_and_calendars(base, oauth, service_for):
    r = requests.post(f"{base}/control/users", json={"email": "dave@example.com", "name": "Dave"}, timeout=5)
    assert r.status_code == 201
    cal = requests.post(f"{base}/control/users/dave@example.com/calendars",
                        json={"summary": "Side", "timeZone": "America/New_York"}, timeout=5).json()
    requests.post(f"{base}/control/users/bob@example.com/calendars", json={"id": cal["id"], "accessRole": "writer"},
                  timeout=5).raise_for_status()
    bob = service_for(BOB)
    ev = bob.events().insert(calendarId=cal["id"], body=event_body()).execute()
    assert ev["start"]["dateTime"] == "2030-05-06T04:00:00-04:00"  # rendered in the calendar's zone
    assert ev["creator"] == {"email": BOB, "self": True}
    state = requests.get(f"{base}/control/state", timeout=5).json()
    assert {"dave@example.com"} <= {u["email"] for u in state["users"]}
    assert state["events"] == 1
    requests.post(f"{base}/control/reset", timeout=5)
    state = requests.get(f"{base}/control/state", timeout=5).json()
    assert "dave@example.com" not in {u["email"] for u in state["users"]} and state["events"] == 0


def test_html_view(base, service_for):
    service_for().events().insert(calendarId="primary", body=event_body("Visible <b>")).execute()
    page = requests.get(f"{base}/", timeout=5)
    assert page.status_code == 200 and "alice@example.com" in page.text
    assert "Visible &lt;b&gt;" in page.text  # autoescaped
    r = requests.post(f"{base}/ui/events/create", data={"calendar_id": TEAM, "summary": "From UI",
                                                        "start": "2030-05-06T09:00", "end": "2030-05-06T10:00"},
                      allow_redirects=False, timeout=5)
    assert r.status_code == 303
    items = requests.get(f"{base}/control/calendars/{TEAM.replace('#', '%23')}/events", timeout=5).json()["items"]
    assert items[0]["start"]["dateTime"] == "2030-05-06T09:00:00+02:00"
