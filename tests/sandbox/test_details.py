"""Less common paths: all-day events, updatedMin, calendarList sync, UI forms, prompt=none, 304."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from googleapiclient.errors import HttpError

from .conftest import CAL, CLIENT_ID, REDIRECT_URI
from .test_calendar import ALICE, BOB, TEAM, event_body


def test_all_day_events_and_time_zones(service_for):
    svc = service_for()
    ev = svc.events().insert(calendarId="primary", body={
        "summary": "Holiday", "start": {"date": "2030-05-06"}, "end": {"date": "2030-05-07"}}).execute()
    assert ev["start"] == {"date": "2030-05-06"}
    fb = svc.freebusy().query(body={"timeMin": "2030-05-05T00:00:00Z", "timeMax": "2030-05-08T00:00:00Z",
                                    "items": [{"id": "primary"}]}).execute()
    # Midnight to midnight in the calendar's zone (Europe/Berlin, UTC+2 in May).
    assert fb["calendars"]["primary"]["busy"] == [{"start": "2030-05-05T22:00:00Z", "end": "2030-05-06T22:00:00Z"}]
    local = svc.events().insert(calendarId="primary", body={
        "summary": "NY", "start": {"dateTime": "2030-05-06T09:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2030-05-06T10:00:00", "timeZone": "America/New_York"}}).execute()
    assert local["start"] == {"dateTime": "2030-05-06T09:00:00-04:00", "timeZone": "America/New_York"}
    utc = svc.events().get(calendarId="primary", eventId=local["id"], timeZone="UTC").execute()
    assert utc["start"]["dateTime"] == "2030-05-06T13:00:00Z"
    for bad in ({"start": {"dateTime": "2030-05-06T09:00:00"}, "end": {"dateTime": "2030-05-06T10:00:00"}},
                {"start": {"date": "2030-05-06"}, "end": {"dateTime": "2030-05-06T10:00:00Z"}},
                {"start": {"dateTime": "2030-05-06T10:00:00Z"}, "end": {"dateTime": "2030-05-06T09:00:00Z"}},
                {"start": {"dateTime": "2030-05-06T10:00:00Z"}}):
        with pytest.raises(HttpError) as exc:
            svc.events().insert(calendarId="primary", body={"summary": "x", **bad}).execute()
        assert exc.value.resp.status == 400, bad
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId="primary", body={**event_body(), "recurrence": ["RRULE:FREQ=DAILY"]}).execute()
    assert exc.value.resp.status == 501


def test_updated_min_and_if_none_match(service_for, base):
    svc = service_for()
    old = svc.events().insert(calendarId="primary", body=event_body("old")).execute()
    requests.post(f"{base}/control/clock", json={"advance_seconds": 120}, timeout=5)
    new = svc.events().insert(calendarId="primary", body=event_body("new")).execute()
    listed = svc.events().list(calendarId="primary", updatedMin=new["updated"]).execute()["items"]
    assert [e["summary"] for e in listed] == ["new"]
    r = requests.get(f"{base}/calendar/v3/calendars/primary/events/{old['id']}",
                     headers={"Authorization": f"Bearer {svc._http.credentials.token}",
                              "If-None-Match": old["etag"]}, timeout=5)
    assert r.status_code == 304


def test_calendar_list_sync_token(base, service_for):
    svc = service_for(ALICE, (f"{CAL}.calendarlist.readonly",))
    token = svc.calendarList().list().execute()["nextSyncToken"]
    assert svc.calendarList().list(syncToken=token).execute()["items"] == []
    requests.post(f"{base}/control/users/alice@example.com/calendars", json={"summary": "New one"}, timeout=5)
    assert [c["summary"] for c in svc.calendarList().list(syncToken=token).execute()["items"]] == ["New one"]


def test_meet_kept_on_patch_and_reused_request_id(service_for):
    svc = service_for()
    create = {"createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    ev = svc.events().insert(calendarId="primary", body=event_body(conferenceData=create),
                             conferenceDataVersion=1).execute()
    patched = svc.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "x"}).execute()
    assert patched["hangoutLink"] == ev["hangoutLink"]
    same = svc.events().patch(calendarId="primary", eventId=ev["id"], body={"conferenceData": create},
                              conferenceDataVersion=1).execute()
    assert same["conferenceData"]["conferenceId"] == ev["conferenceData"]["conferenceId"]
    with pytest.raises(HttpError) as exc:
        svc.events().insert(calendarId="primary", conferenceDataVersion=1, body=event_body(conferenceData={
            "createRequest": {"requestId": "r2", "conferenceSolutionKey": {"type": "eventHangout"}}})).execute()
    assert exc.value.resp.status == 400


def test_prompt_none(base, oauth):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "scope": f"{CAL}.events", "prompt": "none", "login_hint": ALICE, "state": "s"}
    r = requests.get(f"{base}/o/oauth2/v2/auth", params=params, allow_redirects=False, timeout=5)
    assert parse_qs(urlparse(r.headers["Location"]).query)["error"] == ["consent_required"]
    oauth.tokens()
    r = requests.get(f"{base}/o/oauth2/v2/auth", params=params, allow_redirects=False, timeout=5)
    q = parse_qs(urlparse(r.headers["Location"]).query)
    assert "code" in q and q["state"] == ["s"]
    assert "refresh_token" not in oauth.exchange(q["code"][0]).json()


def test_ui_forms(base, oauth, service_for):
    svc = service_for()
    ev = svc.events().insert(calendarId="primary", body=event_body()).execute()
    def post(action, **data):
        r = requests.post(f"{base}/ui/{action}", data=data, allow_redirects=False, timeout=5)
        assert r.status_code == 303 and "error=" not in r.headers["Location"], r.headers["Location"]
    post("events/move", calendar_id=ALICE, event_id=ev["id"], start="2030-05-06T14:00", end="2030-05-06T15:00")
    moved = svc.events().get(calendarId="primary", eventId=ev["id"]).execute()
    assert moved["start"]["dateTime"] == "2030-05-06T14:00:00+02:00" and moved["sequence"] == 1
    post("events/delete", calendar_id=ALICE, event_id=ev["id"])
    assert svc.events().get(calendarId="primary", eventId=ev["id"]).execute()["status"] == "cancelled"
    post("faults", path_regex="calendarList", status="500", count="1")
    with pytest.raises(HttpError):
        svc.calendarList().list().execute()
    post("users/revoke", email=ALICE)
    page = requests.get(f"{base}/", timeout=5).text
    assert "Revoke access" in page and "calendarList" in page
    with pytest.raises(Exception):
        svc.calendarList().list().execute()  # token and refresh token revoked → RefreshError


def test_team_calendar_shared_writer(base, service_for):
    requests.post(f"{base}/control/users/bob@example.com/calendars",
                  json={"id": TEAM, "accessRole": "writer"}, timeout=5).raise_for_status()
    bob = service_for(BOB)
    ev = bob.events().insert(calendarId=TEAM, body=event_body()).execute()
    assert ev["organizer"]["email"] == TEAM and ev["creator"] == {"email": BOB, "self": True}
    entry = bob.calendarList().get(calendarId=TEAM).execute()
    assert entry["accessRole"] == "writer" and "primary" not in entry
