"""OAuth 2.0 / OpenID flows driven through google-auth-oauthlib and google-auth."""
from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow

from .conftest import CAL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, request_id_from

EMAIL = "https://www.googleapis.com/auth/userinfo.email"


def make_flow(base, scopes):
    config = {"web": {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "auth_uri": f"{base}/o/oauth2/v2/auth", "token_uri": f"{base}/token",
        "redirect_uris": [REDIRECT_URI],
    }}
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT_URI)


def consent(base, url, account="alice@example.com", scopes=None, action="allow"):
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    all_scopes = re.findall(r'name="scope" id="[^"]+" value="([^"]+)" checked', page.text)
    form = {"request_id": request_id_from(page.text), "account": account, "action": action,
            "scope": all_scopes if scopes is None else scopes}
    resp = requests.post(f"{base}/o/oauth2/v2/auth/consent", data=form, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    return resp.headers["Location"]


def test_full_flow_with_google_libraries(base):
    flow = make_flow(base, ["openid", "email", f"{CAL}.events.owned", f"{CAL}.calendarlist.readonly"])
    url, state = flow.authorization_url(access_type="offline", include_granted_scopes="true", prompt="consent")
    assert url.startswith(f"{base}/o/oauth2/v2/auth?")
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    location = consent(base, url)
    query = parse_qs(urlparse(location).query)
    assert query["state"] == [state]
    token = flow.fetch_token(code=query["code"][0])  # sends code_verifier, client auth via HTTP Basic

    assert token["token_type"] == "Bearer"
    assert token["refresh_token"]
    assert 3590 <= token["expires_in"] <= 3600
    assert set(token["scope"]) == {"openid", EMAIL, f"{CAL}.events.owned", f"{CAL}.calendarlist.readonly"}

    claims = id_token.verify_token(token["id_token"], GoogleRequest(), audience=CLIENT_ID,
                                   certs_url=f"{base}/oauth2/v1/certs")
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert claims["aud"] == CLIENT_ID and re.fullmatch(r"\d{21}", claims["sub"])

    info = requests.get(f"{base}/oauth2/v3/userinfo",
                        headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5).json()
    assert info["sub"] == claims["sub"] and info["email"] == "alice@example.com"

    creds = flow.credentials
    creds._token_uri = f"{base}/token"
    old = creds.token
    creds.refresh(GoogleRequest())  # client credentials in the form body
    assert creds.token != old and creds.valid

    revoked = requests.post(f"{base}/revoke", data={"token": creds.refresh_token}, timeout=5)
    assert revoked.status_code == 200
    with pytest.raises(RefreshError) as exc:
        creds.refresh(GoogleRequest())
    assert "invalid_grant" in str(exc.value)
    # The access tokens of the revoked grant are dead too.
    r = requests.get(f"{base}/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {creds.token}"}, timeout=5)
    assert r.status_code == 401
    again = requests.post(f"{base}/revoke", params={"token": creds.refresh_token}, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_jwks_and_profile_claims(base, oauth):
    tok = oauth.tokens(scopes=("openid", "profile", "email"))
    claims = id_token.verify_token(tok["id_token"], GoogleRequest(), audience=CLIENT_ID,
                                   certs_url=f"{base}/oauth2/v1/certs")
    assert claims["name"] == "Alice Example"
    jwks = requests.get(f"{base}/oauth2/v3/certs", timeout=5).json()
    assert jwks["keys"][0]["kid"] == requests.get(f"{base}/oauth2/v1/certs", timeout=5).json().popitem()[0]


def test_no_id_token_without_openid(oauth):
    tok = oauth.tokens(scopes=(f"{CAL}.events",))
    assert "id_token" not in tok
    assert tok["scope"] == f"{CAL}.events"


def test_code_single_use_and_pkce(oauth):
    verifier = secrets.token_urlsafe(48)
    q = oauth.authorize(verifier=verifier)
    bad = oauth.exchange(q["code"], "x" * 50)
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    missing = oauth.exchange(q["code"])
    assert missing.json()["error_description"] == "Missing code verifier."
    ok = oauth.exchange(q["code"], verifier)
    assert ok.status_code == 200
    reused = oauth.exchange(q["code"], verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_plain_pkce_and_redirect_uri_must_match(oauth):
    verifier = secrets.token_urlsafe(48)
    q = oauth.authorize(extra={"code_challenge": verifier, "code_challenge_method": "plain"})
    wrong = oauth.exchange(q["code"], verifier, redirect_uri="http://127.0.0.1:9999/other")
    assert wrong.json()["error"] == "redirect_uri_mismatch"
    assert oauth.exchange(q["code"], verifier).status_code == 200


def test_code_expires_after_ten_minutes(base, oauth):
    q = oauth.authorize(prompt="consent")
    requests.post(f"{base}/control/clock", json={"advance_seconds": 601}, timeout=5)
    resp = oauth.exchange(q["code"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_deny_redirects_with_access_denied(oauth):
    q = oauth.authorize(action="deny")
    assert q["error"] == "access_denied" and "code" not in q


def test_partial_grant(oauth):
    tok = oauth.tokens(scopes=("openid", "email", f"{CAL}.events", f"{CAL}.freebusy"),
                       granted=("openid", f"{CAL}.freebusy"))
    assert set(tok["scope"].split()) == {"openid", f"{CAL}.freebusy"}


def test_refresh_token_only_on_new_grant_or_prompt_consent(oauth):
    first = oauth.tokens(prompt=None)
    assert "refresh_token" in first
    second = oauth.tokens(prompt=None)
    assert "refresh_token" not in second  # already granted, no prompt=consent
    third = oauth.tokens(prompt="consent")
    assert "refresh_token" in third
    online = oauth.tokens(prompt="consent", access_type="online")
    assert "refresh_token" not in online


def test_include_granted_scopes_unions_previous_grant(oauth):
    oauth.tokens(scopes=(f"{CAL}.freebusy",))
    tok = oauth.tokens(scopes=(f"{CAL}.events",), extra={"include_granted_scopes": "true"})
    assert set(tok["scope"].split()) == {f"{CAL}.freebusy", f"{CAL}.events"}
    tok = oauth.tokens(scopes=(f"{CAL}.events",))
    assert tok["scope"] == f"{CAL}.events"


def test_client_authentication_errors(base, oauth):
    q = oauth.authorize()
    r = requests.post(f"{base}/token", data={"grant_type": "authorization_code", "code": q["code"],
                                             "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID,
                                             "client_secret": "wrong"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = requests.post(f"{base}/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert r.json()["error"] == "unsupported_grant_type"
    r = requests.post(f"{base}/token", data={"grant_type": "refresh_token", "refresh_token": "nope"},
                      auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert r.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


def test_authorize_rejects_foreign_redirect_and_unknown_client(base):
    r = requests.get(f"{base}/o/oauth2/v2/auth", params={
        "client_id": CLIENT_ID, "redirect_uri": "https://evil.example.com/cb", "response_type": "code",
        "scope": "openid"}, timeout=5)
    assert r.status_code == 400 and "redirect_uri_mismatch" in r.text
    r = requests.get(f"{base}/o/oauth2/v2/auth", params={
        "client_id": "other", "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid"}, timeout=5)
    assert r.status_code == 401 and "invalid_client" in r.text


def test_consent_page_add_account(base):
    page = requests.get(f"{base}/o/oauth2/v2/auth", params={
        "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid email"},
        timeout=5)
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        assert f'name="account"' in page.text and f'>{email}</label>' in page.text
    assert '>Allow</button>' in page.text and '>Deny</button>' in page.text
    added = requests.post(f"{base}/o/oauth2/v2/auth/add_account", data={
        "request_id": request_id_from(page.text), "email": "dave@example.com", "name": "Dave Example"}, timeout=5)
    assert 'value="dave@example.com" checked' in added.text
    state = requests.get(f"{base}/control/state", timeout=5).json()
    assert "dave@example.com" in [u["email"] for u in state["users"]]


def test_access_token_ttl_is_configurable(base, oauth):
    requests.post(f"{base}/control/config", json={"access_token_ttl_seconds": 120}, timeout=5).raise_for_status()
    try:
        assert oauth.tokens()["expires_in"] == 120
    finally:
        requests.post(f"{base}/control/config", json={"access_token_ttl_seconds": 3600}, timeout=5)


def test_expired_access_token_is_refreshed_transparently(base, service_for):
    svc = service_for("alice@example.com", (f"{CAL}.readonly",))
    svc.calendarList().list().execute()
    requests.post(f"{base}/control/tokens/expire", json={"email": "alice@example.com"}, timeout=5)
    since = requests.get(f"{base}/control/requests", timeout=5).json()["last_seq"]
    # google-auth sees the 401, refreshes, and retries the call.
    assert svc.calendarList().list().execute()["items"]
    log = requests.get(f"{base}/control/requests", params={"since": since}, timeout=5).json()["requests"]
    assert [(r["path"], r["status"]) for r in log] == [
        ("/calendar/v3/users/me/calendarList", 401), ("/token", 200), ("/calendar/v3/users/me/calendarList", 200)]
    assert log[0]["calendar_method"] == "calendar.calendarList.list" and log[0]["email"] == "alice@example.com"


def test_control_revoke_user(base, oauth):
    tok = oauth.tokens()
    requests.post(f"{base}/control/users/alice@example.com/revoke", timeout=5).raise_for_status()
    r = requests.post(f"{base}/token", data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                                             "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_token_fault_invalid_grant(base, oauth):
    tok = oauth.tokens()
    requests.post(f"{base}/control/faults", json={"path_regex": "^/token$", "status": 400, "reason": "invalid_grant",
                                                  "email": "alice@example.com"}, timeout=5).raise_for_status()
    data = {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    r = requests.post(f"{base}/token", data=data, timeout=5)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    assert requests.post(f"{base}/token", data=data, timeout=5).status_code == 200  # count defaults to 1


def test_refresh_with_scope_param_narrows_to_grant(base, oauth):
    tok = oauth.tokens(scopes=(f"{CAL}.events", f"{CAL}.freebusy"), granted=(f"{CAL}.freebusy",))
    data = {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET}
    wide = requests.post(f"{base}/token", data={**data, "scope": f"{CAL}.events {CAL}.freebusy"}, timeout=5).json()
    assert wide["scope"] == f"{CAL}.freebusy"
    none = requests.post(f"{base}/token", data={**data, "scope": f"{CAL}.events"}, timeout=5)
    assert none.status_code == 400 and none.json()["error"] == "invalid_scope"
