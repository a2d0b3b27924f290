"""Acting as the Google user in the sandbox, and connecting a fresh sandbox user to a fresh
calbridge account without going through the oauth function (the grant is real: consent page
and token exchange against the sandbox, then `google_accounts.save_connection`).

Every test gets its own sandbox user, so its calendars, channels and sync tokens are its own.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlparse

import requests

from shared.adapters.google_calendar import SCOPES
from shared.config import settings

TIMEOUT = 10
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"


def new_user(urls: dict, prefix: str = "sync") -> str:
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    r = requests.post(f"{urls['google_sandbox']}/control/users",
                      json={"email": email, "name": email.split("@")[0]}, timeout=TIMEOUT)
    r.raise_for_status()
    return email


def grant(urls: dict, email: str) -> dict:
    """Consent as `email` to every calbridge scope; the token endpoint's answer."""
    sandbox = urls["google_sandbox"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = requests.get(f"{sandbox}/o/oauth2/v2/auth", params={
        "client_id": settings().google_client_id, "redirect_uri": REDIRECT_URI,
        "response_type": "code", "scope": " ".join(SCOPES), "state": "s",
        "access_type": "offline", "prompt": "consent", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }, timeout=TIMEOUT)
    page.raise_for_status()
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
    offered = re.findall(r'name="scope" id="[^"]+" value="([^"]+)"', page.text)
    answer = requests.post(f"{sandbox}/o/oauth2/v2/auth/consent", data={
        "request_id": request_id, "account": email, "action": "allow", "scope": offered,
    }, allow_redirects=False, timeout=TIMEOUT)
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    from shared import secrets as app_secrets

    token = requests.post(f"{sandbox}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": settings().google_client_id, "code_verifier": verifier,
        "client_secret": app_secrets.get(app_secrets.OAUTH_CLIENT_SECRET),
    }, timeout=TIMEOUT)
    token.raise_for_status()
    return token.json()


def connect(urls: dict, email: str, account_id: str | None = None) -> tuple[str, str, str]:
    """A new calbridge account with `email`'s Google account connected (its primary calendar
    the default and the conflict calendar). Returns (account_id, owner API key, gid).
    With `account_id`, `email` is connected to that existing account instead (key is "")."""
    from shared.adapters.google_calendar import GoogleCalendar
    from shared.services import google_accounts, members

    if account_id:
        account, key = {"id": account_id}, ""
    else:
        account, _, key = members.create_account(
            name=f"Sync {email}", owner_name="Olga Owner", owner_email=f"owner-{email}")
    token = grant(urls, email)
    info = requests.get(f"{urls['google_sandbox']}/oauth2/v3/userinfo", timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    from shared import secrets as app_secrets

    entries = GoogleCalendar(
        google_account_id="probe-" + uuid.uuid4().hex, refresh_token=token["refresh_token"],
        client_secret=app_secrets.get(app_secrets.OAUTH_CLIENT_SECRET),
    ).list_calendars()
    saved = google_accounts.save_connection(
        account_id=account["id"], sub=info["sub"], email=email,
        refresh_token=token["refresh_token"], scopes=token["scope"].split(),
        calendar_entries=entries,
    )
    return account["id"], key, saved.google_account_id


# --- acting as the Google user (control API) -------------------------------------------------


def create_event(urls: dict, calendar_id: str, body: dict) -> dict:
    r = requests.post(f"{urls['google_sandbox']}/control/calendars/{calendar_id}/events",
                      json=body, timeout=TIMEOUT)
    assert r.status_code in (200, 201), r.text
    return r.json()


def patch_event(urls: dict, calendar_id: str, event_id: str, body: dict) -> dict:
    r = requests.patch(
        f"{urls['google_sandbox']}/control/calendars/{calendar_id}/events/{event_id}",
        json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def delete_event(urls: dict, calendar_id: str, event_id: str) -> None:
    r = requests.delete(
        f"{urls['google_sandbox']}/control/calendars/{calendar_id}/events/{event_id}",
        timeout=TIMEOUT)
    assert r.status_code in (200, 204), r.text


def respond(urls: dict, calendar_id: str, event_id: str, email: str, status: str) -> dict:
    r = requests.post(
        f"{urls['google_sandbox']}/control/calendars/{calendar_id}/events/{event_id}/respond",
        json={"email": email, "responseStatus": status}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def control(urls: dict, path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{urls['google_sandbox']}/control/{path}", json=body or {},
                      timeout=TIMEOUT)
    assert r.status_code < 300, r.text
    return r.json() if r.content else {}


def channels(urls: dict, calendar_id: str | None = None) -> list[dict]:
    r = requests.get(f"{urls['google_sandbox']}/control/channels", timeout=TIMEOUT)
    r.raise_for_status()
    found = r.json()["channels"]
    return [c for c in found if calendar_id is None or c.get("calendar_id") == calendar_id
            or c.get("calendarId") == calendar_id]


def last_request_seq(urls: dict) -> int:
    r = requests.get(f"{urls['google_sandbox']}/control/requests",
                     params={"since": 10**12}, timeout=TIMEOUT)
    return r.json()["last_seq"]


def requests_since(urls: dict, seq: int, email: str | None = None) -> list[dict]:
    params = {"since": seq}
    if email:
        params["email"] = email
    r = requests.get(f"{urls['google_sandbox']}/control/requests", params=params,
                     timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()["requests"]


def flush(urls: dict) -> dict:
    return control(urls, "notifications/flush")


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def sync_now(google_account_id: str, calendar_id: str, timeout: float = 10.0):
    """Run a sync in this process; while a task's sync holds the calendar, wait and try again
    (a direct call would otherwise just be coalesced into it)."""
    from shared.services import sync

    deadline = time.monotonic() + timeout
    while True:
        result = sync.sync_calendar(google_account_id, calendar_id)
        if result.status != "coalesced" or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
