"""The oauth function over HTTP: connecting Google accounts through the sandbox's real OAuth
flow, the JSON API and the page forms, owner-only rules, callback failures, disconnecting and
broken connections."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from shared.adapters.firestore import db
from shared.services import google_accounts, members
from tests.helpers.accounts import new_team
from tests.helpers.google_connect import (
    connect_google_account, create_google_user, finish, start_connect, submit_consent,
)

pytestmark = pytest.mark.stack

EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"


@pytest.fixture
def team(stack):
    return new_team()


def api(urls, key, method, path, body=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.request(method, f"{urls['oauth']}{path}", json=body, headers=headers,
                            timeout=15)


def overview(urls, key) -> dict:
    response = api(urls, key, "GET", "/api/integrations")
    assert response.status_code == 200, response.text
    return response.json()


def by_email(view: dict, email: str) -> dict:
    return next(ga for ga in view["google_accounts"] if ga["email"] == email)


def cal(ga_view: dict, calendar_id_or_summary: str) -> dict:
    return next(c for c in ga_view["calendars"]
                if calendar_id_or_summary in (c["calendar_id"], c["summary"]))


def stored_google_accounts(account_id: str) -> tuple:
    return google_accounts.read_connections(account_id).accounts


# --- connecting ------------------------------------------------------------------------------


def test_first_account_primary_becomes_default_and_meet_is_enabled(urls, team):
    gid = connect_google_account(urls, team["owner_key"], "alice@example.com")
    view = overview(urls, team["owner_key"])
    alice = by_email(view, "alice@example.com")
    assert alice["id"] == gid and alice["status"] == "connected"
    primary = cal(alice, "alice@example.com")
    assert primary["primary"] and primary["writable"] and primary["conflict_check"]
    assert primary["is_default"]
    team_cal = cal(alice, "Team")
    assert team_cal["writable"] and not team_cal["conflict_check"]
    reader = next(c for c in alice["calendars"] if c["access_role"] == "reader")
    assert not reader["writable"]
    assert view["default_calendar"]["calendar_id"] == "alice@example.com"
    assert view["meet_enabled"] is True and view["default_required"] is False
    # The refresh token is stored encrypted only.
    doc = db().collection("google_accounts").document(gid).get().to_dict()
    assert doc["refresh_token_enc"].startswith("v1.")
    assert "sandbox" not in str(doc)
    assert google_accounts.decrypted_refresh_token(google_accounts.get(gid))


def test_second_account_keeps_default_and_reconnecting_updates_in_place(urls, team):
    alice = connect_google_account(urls, team["owner_key"], "alice@example.com")
    bob = connect_google_account(urls, team["owner_key"], "bob@example.com")
    assert alice != bob
    view = overview(urls, team["owner_key"])
    assert [ga["email"] for ga in view["google_accounts"]] == ["alice@example.com",
                                                               "bob@example.com"]
    assert view["default_calendar"]["google_account_id"] == alice
    assert cal(by_email(view, "bob@example.com"), "bob@example.com")["conflict_check"]
    # The owner's choices survive connecting the same Google account again.
    assert api(urls, team["owner_key"], "PUT",
               f"/api/integrations/google-accounts/{alice}/conflict-check",
               {"calendar_id": "alice@example.com", "enabled": False}).status_code == 200
    assert connect_google_account(urls, team["owner_key"], "alice@example.com") == alice
    view = overview(urls, team["owner_key"])
    assert len(view["google_accounts"]) == 2
    assert not cal(by_email(view, "alice@example.com"), "alice@example.com")["conflict_check"]


# --- owner only: every state-changing endpoint, for unauthenticated, assistant and owner ------


def sign_in(urls, key) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{urls['oauth']}/signin", timeout=15)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = http.post(f"{urls['oauth']}/signin", data={"api_key": key, "csrf_token": token},
                       allow_redirects=False, timeout=15)
    assert answer.status_code == 303, answer.text
    return http


def page_csrf(urls, http) -> str:
    page = http.get(f"{urls['oauth']}/integrations", timeout=15)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _api_calls(gid):
    return {
        "default": ("PUT", "/api/integrations/default-calendar",
                    {"google_account_id": gid, "calendar_id": "Team"}),
        "conflict": ("PUT", f"/api/integrations/google-accounts/{gid}/conflict-check",
                     {"calendar_id": "alice@example.com", "enabled": False}),
        "refresh": ("POST", f"/api/integrations/google-accounts/{gid}/refresh", None),
        "disconnect": ("DELETE", f"/api/integrations/google-accounts/{gid}", None),
    }


def _team_calendar_id(gid) -> str:
    return next(c["calendar_id"] for c in google_accounts.calendars(gid) if c["summary"] == "Team")


@pytest.mark.parametrize("endpoint", ["default", "conflict", "refresh", "disconnect"])
def test_api_writes_are_owner_only(urls, team, endpoint):
    gid = connect_google_account(urls, team["owner_key"], "alice@example.com")
    method, path, body = _api_calls(gid)[endpoint]
    if body and body.get("calendar_id") == "Team":
        body["calendar_id"] = _team_calendar_id(gid)
    before = overview(urls, team["owner_key"])

    anonymous = api(urls, None, method, path, body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    wrong_key = api(urls, "cbk_not-a-key", method, path, body)
    assert wrong_key.status_code == 401
    assistant = api(urls, team["assistant_key"], method, path, body)
    assert assistant.status_code == 403
    assert assistant.json()["error"]["code"] == "owner_only"
    assert "owner" in assistant.json()["error"]["message"]
    assert overview(urls, team["assistant_key"]) == before  # assistants may read, not change

    owner = api(urls, team["owner_key"], method, path, body)
    assert owner.status_code == 200, owner.text
    assert overview(urls, team["owner_key"]) != before or endpoint == "refresh"


def _form_calls(gid):
    return {
        "default": ("/integrations/default", {"choice": f"{gid}|TEAM"}),
        "conflicts": ("/integrations/conflicts", {"google_account_id": gid,
                                                  "calendar_id": "alice@example.com",
                                                  "enabled": "off"}),
        "refresh": ("/integrations/refresh", {"google_account_id": gid}),
        "disconnect": ("/integrations/disconnect", {"google_account_id": gid}),
    }


@pytest.mark.parametrize("endpoint", ["default", "conflicts", "refresh", "disconnect"])
def test_page_forms_are_owner_only_and_csrf_protected(urls, team, endpoint):
    gid = connect_google_account(urls, team["owner_key"], "alice@example.com")
    path, form = _form_calls(gid)[endpoint]
    if "choice" in form:
        form["choice"] = f"{gid}|{_team_calendar_id(gid)}"
    url = f"{urls['oauth']}{path}"
    before = overview(urls, team["owner_key"])

    anonymous = requests.post(url, data=form, allow_redirects=False, timeout=15)
    assert anonymous.status_code == 401
    assistant = sign_in(urls, team["assistant_key"])
    denied = assistant.post(url, data={**form, "csrf_token": page_csrf(urls, assistant)},
                            allow_redirects=False, timeout=15)
    assert denied.status_code == 403 and "owner" in denied.text
    owner = sign_in(urls, team["owner_key"])
    forged = owner.post(url, data={**form, "csrf_token": "forged"}, allow_redirects=False,
                        timeout=15)
    assert forged.status_code == 403
    assert overview(urls, team["owner_key"]) == before

    done = owner.post(url, data={**form, "csrf_token": page_csrf(urls, owner)},
                      allow_redirects=False, timeout=15)
    assert done.status_code == 303, done.text
    assert done.headers["Location"].startswith("/integrations")


def test_connect_is_owner_only(urls, team):
    anonymous = requests.get(f"{urls['oauth']}/oauth/connect", allow_redirects=False, timeout=15)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/signin")
    assistant = api(urls, team["assistant_key"], "GET", "/oauth/connect")
    assert assistant.status_code == 403
    assistant_page = sign_in(urls, team["assistant_key"]).get(
        f"{urls['oauth']}/oauth/connect", allow_redirects=False, timeout=15)
    assert assistant_page.status_code == 403 and "owner" in assistant_page.text
    assert not stored_google_accounts(team["account_id"])


def test_signout_needs_csrf_and_ends_the_session(urls, team):
    http = sign_in(urls, team["owner_key"])
    assert http.post(f"{urls['oauth']}/signout", data={"csrf_token": "x"},
                     allow_redirects=False, timeout=15).status_code == 403
    token = page_csrf(urls, http)
    out = http.post(f"{urls['oauth']}/signout", data={"csrf_token": token},
                    allow_redirects=False, timeout=15)
    assert out.status_code == 303
    landing = http.get(urls["oauth"] + out.headers["Location"], timeout=15)
    assert "You are signed out." in landing.text  # the action is confirmed
    after = http.get(f"{urls['oauth']}/integrations", allow_redirects=False, timeout=15)
    assert after.status_code == 303 and after.headers["Location"].startswith("/signin")


def test_signin_rejects_bad_keys_and_forged_forms(urls, team):
    http = requests.Session()
    form = http.get(f"{urls['oauth']}/signin", timeout=15)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    bad = http.post(f"{urls['oauth']}/signin", data={"api_key": "cbk_wrong", "csrf_token": token},
                    allow_redirects=False, timeout=15)
    assert bad.status_code == 401 and "not valid" in bad.text
    forged = requests.post(f"{urls['oauth']}/signin",
                           data={"api_key": team["owner_key"], "csrf_token": "x"},
                           allow_redirects=False, timeout=15)
    assert forged.status_code == 403 and "cb_session" not in forged.headers.get("Set-Cookie", "")
    # After sign-in, only same-site paths are followed.
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      http.get(f"{urls['oauth']}/signin", timeout=15).text).group(1)
    good = http.post(f"{urls['oauth']}/signin",
                     data={"api_key": team["owner_key"], "csrf_token": token,
                           "next": "//evil.example/x"}, allow_redirects=False, timeout=15)
    assert good.status_code == 303 and good.headers["Location"] == "/integrations"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_answers_clear_4xx(urls, team):
    gid = connect_google_account(urls, team["owner_key"], "alice@example.com")
    key = team["owner_key"]
    reader = next(c["calendar_id"] for c in google_accounts.calendars(gid)
                  if c["access_role"] == "reader")
    cases = [
        ("PUT", "/api/integrations/default-calendar", None, 400, "invalid_request"),
        ("PUT", "/api/integrations/default-calendar", {"calendar_id": "x"}, 400,
         "validation_failed"),
        ("PUT", "/api/integrations/default-calendar",
         {"google_account_id": "nope", "calendar_id": "x"}, 404, "google_account_not_found"),
        ("PUT", "/api/integrations/default-calendar",
         {"google_account_id": gid, "calendar_id": "missing@example.com"}, 404,
         "calendar_not_found"),
        ("PUT", "/api/integrations/default-calendar",
         {"google_account_id": gid, "calendar_id": reader}, 400, "calendar_not_writable"),
        ("PUT", f"/api/integrations/google-accounts/{gid}/conflict-check",
         {"calendar_id": "alice@example.com", "enabled": "yes"}, 400, "validation_failed"),
        ("PUT", f"/api/integrations/google-accounts/{gid}/conflict-check",
         {"calendar_id": 5, "enabled": True}, 400, "validation_failed"),
        ("POST", "/api/integrations/google-accounts/unknown/refresh", None, 404,
         "google_account_not_found"),
        ("DELETE", "/api/integrations/google-accounts/unknown", None, 404,
         "google_account_not_found"),
        ("POST", "/api/integrations/default-calendar", {}, 405, "method_not_allowed"),
    ]
    for method, path, body, status, code in cases:
        response = api(urls, key, method, path, body)
        assert response.status_code == status, (method, path, body, response.text)
        assert response.json()["error"]["code"] == code, (method, path, body, response.text)
    broken = requests.put(f"{urls['oauth']}/api/integrations/default-calendar", data="{not json",
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/json"}, timeout=15)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_request"
    # Another account's Google account is invisible.
    _, _, stranger_key = members.create_account(name="Other", owner_name="O",
                                                owner_email="o@example.net")
    stranger = api(urls, stranger_key, "DELETE", f"/api/integrations/google-accounts/{gid}")
    assert stranger.status_code == 404
    assert google_accounts.get(gid)


# --- callback failures store nothing ---------------------------------------------------------


def _assert_failed_page(response, status: int, text: str):
    assert response.status_code == status, response.text
    assert "text/html" in response.headers["Content-Type"]
    assert text in response.text
    assert "Traceback" not in response.text


def test_denied_consent_shows_a_page_and_stores_nothing(urls, team):
    http, consent = start_connect(urls, team["owner_key"])
    callback = submit_consent(http, consent, "alice@example.com", action="deny")
    _assert_failed_page(finish(http, callback), 400, "did not allow")
    assert not stored_google_accounts(team["account_id"])


def test_unticked_scope_lists_what_is_missing_and_stores_nothing(urls, team):
    http, consent = start_connect(urls, team["owner_key"])
    page = http.get(consent, timeout=15).text
    offered = re.findall(r'name="scope" id="[^"]+" value="([^"]+)"', page)
    callback = submit_consent(http, consent, create_google_user(urls),
                              scopes=[s for s in offered if s != EVENTS_SCOPE])
    response = finish(http, callback)
    _assert_failed_page(response, 400, "Create, change and delete events in your calendars")
    assert EVENTS_SCOPE in response.text
    assert not stored_google_accounts(team["account_id"])


def test_replayed_state_and_foreign_browser_are_refused(urls, team):
    http, consent = start_connect(urls, team["owner_key"])
    callback = submit_consent(http, consent, create_google_user(urls))
    # Another browser (no binding cookie) cannot complete this flow...
    _assert_failed_page(requests.get(callback, allow_redirects=False, timeout=15), 403,
                        "another browser")
    # ...the right one can, once.
    first = finish(http, callback)
    assert first.status_code == 303 and "connected=" in first.headers["Location"]
    _assert_failed_page(finish(http, callback), 400, "not valid any more")
    assert len(stored_google_accounts(team["account_id"])) == 1


def test_code_already_used_is_refused(urls, team):
    first_user = create_google_user(urls)
    http, consent = start_connect(urls, team["owner_key"])
    used_callback = submit_consent(http, consent, first_user)
    assert finish(http, used_callback).status_code == 303
    http2, consent2 = start_connect(urls, team["owner_key"])
    fresh_state = parse_qs(urlparse(submit_consent(http2, consent2,
                                                   create_google_user(urls))).query)
    used_code = parse_qs(urlparse(used_callback).query)["code"][0]
    replay = finish(http2, f"{urls['oauth']}/oauth/callback?state={fresh_state['state'][0]}"
                           f"&code={used_code}")
    _assert_failed_page(replay, 400, "already used")
    assert [ga.email for ga in stored_google_accounts(team["account_id"])] == [first_user]


def test_callback_without_parameters_is_a_readable_page(urls, team):
    _assert_failed_page(requests.get(f"{urls['oauth']}/oauth/callback", timeout=15), 400,
                        "not valid any more")


# --- disconnecting and broken connections ----------------------------------------------------


def sandbox(urls, method, path, body=None):
    response = requests.request(method, f"{urls['google_sandbox']}{path}", json=body, timeout=15)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def test_disconnect_stops_channels_revokes_and_clears_the_default(urls, team):
    email = create_google_user(urls)
    gid = connect_google_account(urls, team["owner_key"], email)
    other = connect_google_account(urls, team["owner_key"], create_google_user(urls))
    channel_id = f"ch-{time.time_ns()}"
    watched = google_accounts.calendar_client(gid).watch(
        email, channel_id=channel_id, address=f"{urls['webhook']}/google/notifications",
        token="secret-token", ttl_seconds=3600)
    channels = db().collection("channels")
    channels.document(channel_id).set({"google_account_id": gid, "calendar_id": email,
                                       "resource_id": watched["resourceId"]})
    channels.document(f"{channel_id}-gone").set({"google_account_id": gid, "calendar_id": email,
                                                 "resource_id": "unknown-resource"})
    refresh_token = google_accounts.decrypted_refresh_token(google_accounts.get(gid))
    sandbox(urls, "DELETE", "/control/requests")

    response = api(urls, team["owner_key"], "DELETE", f"/api/integrations/google-accounts/{gid}")
    assert response.status_code == 200, response.text
    assert response.json() == {"google_account_id": gid, "email": email, "revoked": True,
                               "default_cleared": True}
    stopped = next(c for c in sandbox(urls, "GET", "/control/channels")["channels"]
                   if c["id"] == channel_id)
    assert stopped["stopped"]
    assert not channels.document(channel_id).get().exists
    assert not channels.document(f"{channel_id}-gone").get().exists
    assert not db().collection("google_accounts").document(gid).get().exists
    assert not google_accounts.calendars(gid)
    revokes = [r for r in sandbox(urls, "GET", "/control/requests")["requests"]
               if r["path"].endswith("/revoke")]
    assert [r["status"] for r in revokes] == [200]
    token = requests.post(f"{urls['google_sandbox']}/token", timeout=15, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": "calbridge-local.apps.googleusercontent.com",
        "client_secret": "calbridge-local-secret"})
    assert token.status_code == 400 and token.json()["error"] == "invalid_grant"

    view = overview(urls, team["owner_key"])
    assert [ga["id"] for ga in view["google_accounts"]] == [other]
    assert view["default_calendar"] is None and view["default_required"] is True
    page = sign_in(urls, team["owner_key"]).get(
        f"{urls['oauth']}/integrations?disconnected={email}&default_cleared=1", timeout=15)
    assert "choose a new default calendar" in page.text
    assert 'id="default-required"' in page.text


def _messages(urls, to):
    return requests.get(f"{urls['mail_sink']}/api/messages", params={"to": to},
                        timeout=15).json()


def test_revoked_access_marks_reconnect_needed_emails_once_and_reconnects(urls, team):
    email = create_google_user(urls)
    gid = connect_google_account(urls, team["owner_key"], email)
    sandbox(urls, "POST", f"/control/users/{email}/revoke")

    results = []
    threads = [threading.Thread(target=lambda: results.append(api(
        urls, team["owner_key"], "POST", f"/api/integrations/google-accounts/{gid}/refresh")))
        for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {409}
    assert {r.json()["error"]["code"] for r in results} == {"google_reconnect_needed"}
    assert by_email(overview(urls, team["owner_key"]), email)["status"] == "reconnect_needed"

    owner_email = team["owner"].email
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _messages(urls, owner_email):
        time.sleep(0.3)
    time.sleep(1.5)  # a second email would have arrived by now
    assert len(_messages(urls, owner_email)) == 1

    owner = sign_in(urls, team["owner_key"])
    page = owner.get(f"{urls['oauth']}/integrations", timeout=15).text
    assert "Reconnect needed" in page and f"/oauth/connect?reconnect={gid}" in page
    assistant_page = sign_in(urls, team["assistant_key"]).get(
        f"{urls['oauth']}/integrations", timeout=15).text
    assert "Reconnect needed" in assistant_page and "/oauth/connect" not in assistant_page

    http, consent = start_connect(urls, owner, reconnect=gid)
    assert "prompt=consent" in consent and "login_hint=" in consent
    done = finish(http, submit_consent(http, consent, email))
    assert done.status_code == 303 and f"connected={gid}" in done.headers["Location"]
    assert by_email(overview(urls, team["owner_key"]), email)["status"] == "connected"
    assert api(urls, team["owner_key"], "POST",
               f"/api/integrations/google-accounts/{gid}/refresh").status_code == 200
