"""Connect a sandbox Google account to a calbridge account through the real OAuth flow.

Drives exactly what a browser does, over HTTP with `requests`: the oauth function's
GET /oauth/connect (with a member's API key as bearer, or a signed-in `requests.Session`),
the sandbox consent page (pick the account, keep or untick scopes, Allow or Deny), and the
callback. Usage:

    from tests.helpers.google_connect import connect_google_account
    gid = connect_google_account(urls, owner_key, "alice@example.com")

`start_connect`, `submit_consent` and `finish` are the single steps, for tests of failures.
`create_google_user` adds a sandbox user that has granted nothing yet (the seeded users are
shared by every test of a session, and Google remembers earlier grants).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import uuid

import requests

TIMEOUT = 15


def create_google_user(urls: dict, name: str = "Test User") -> str:
    """A new sandbox Google user (primary calendar id = the email); returns the email."""
    email = f"user-{uuid.uuid4().hex[:12]}@example.org"
    response = requests.post(f"{urls['google_sandbox']}/control/users",
                             json={"email": email, "name": name}, timeout=TIMEOUT)
    if response.status_code not in (200, 201):
        raise AssertionError(f"sandbox refused the user: {response.status_code} {response.text}")
    return email


class _FormParser(HTMLParser):
    """The consent form: its action and every named input with its attributes."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.action: str | None = None
        self.inputs: list[dict] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._inside = attrs.get("id") == self.form_id
            if self._inside:
                self.action = attrs.get("action")
        elif self._inside and tag in ("input", "button") and attrs.get("name"):
            self.inputs.append({"tag": tag, **attrs})

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False


def _session(auth) -> tuple[requests.Session, dict]:
    if isinstance(auth, requests.Session):
        return auth, {}
    return requests.Session(), {"Authorization": f"Bearer {auth}"}


def start_connect(urls: dict, auth, **params) -> tuple[requests.Session, str]:
    """GET /oauth/connect; returns (the browser session, the Google consent URL)."""
    http, headers = _session(auth)
    response = http.get(f"{urls['oauth']}/oauth/connect", params=params, headers=headers,
                        allow_redirects=False, timeout=TIMEOUT)
    location = response.headers.get("Location", "")
    if response.status_code not in (302, 303) or not location.startswith(urls["google_sandbox"]):
        raise AssertionError(
            f"/oauth/connect did not redirect to Google: {response.status_code} {response.text[:500]}"
        )
    return http, location


def submit_consent(http: requests.Session, consent_url: str, email: str,
                   scopes: list[str] | None = None, action: str = "allow") -> str:
    """Open the consent page, choose `email` and `scopes` (None: all offered), press `action`;
    returns the callback URL Google redirects to."""
    page = http.get(consent_url, allow_redirects=False, timeout=TIMEOUT)
    if page.status_code != 200:
        raise AssertionError(f"consent page answered {page.status_code}: {page.text[:500]}")
    form = _FormParser("consent-form")
    form.feed(page.text)
    if not form.action:
        raise AssertionError(f"no consent form on the page: {page.text[:500]}")
    offered = [i["value"] for i in form.inputs if i.get("name") == "scope"]
    data: list[tuple[str, str]] = [
        (i["name"], i.get("value", "")) for i in form.inputs if i.get("type") == "hidden"
    ]
    data.append(("account", email))
    data += [("scope", s) for s in (offered if scopes is None else scopes)]
    data.append(("action", action))
    answer = http.post(urljoin(consent_url, form.action), data=data, allow_redirects=False,
                       timeout=TIMEOUT)
    if answer.status_code not in (302, 303):
        raise AssertionError(f"consent answered {answer.status_code}: {answer.text[:500]}")
    return answer.headers["Location"]


def finish(http: requests.Session, callback_url: str) -> requests.Response:
    """GET the callback as the browser would (with its cookies), without following on."""
    return http.get(callback_url, allow_redirects=False, timeout=TIMEOUT)


def connect_google_account(urls: dict, api_key_or_session, email: str,
                           scopes: list[str] | None = None) -> str:
    """Connect `email` (a sandbox user) and return its google_account_id."""
    http, location = start_connect(urls, api_key_or_session)
    # calbridge may send the browser back to Google once more, with prompt=consent, when
    # Google gave no refresh token; hence the loop.
    for _ in range(3):
        response = finish(http, submit_consent(http, location, email, scopes))
        location = response.headers.get("Location", "")
        if response.status_code in (302, 303) and location.startswith(urls["google_sandbox"]):
            continue
        connected = parse_qs(urlparse(location).query).get("connected")
        if response.status_code in (302, 303) and connected:
            return connected[0]
        break
    raise AssertionError(
        f"connecting {email} failed: {response.status_code} {location} {response.text[:800]}"
    )
