"""Fixtures: one in-thread sandbox per test session, reset before every test."""
from __future__ import annotations

import base64
import hashlib
import http.server
import os
import re
import secrets
import threading
from urllib.parse import parse_qs, urlparse

import pytest
import requests

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

from local.google_sandbox import serve  # noqa: E402

CLIENT_ID = "calbridge-local.apps.googleusercontent.com"
CLIENT_SECRET = "calbridge-local-secret"
REDIRECT_URI = "http://127.0.0.1:8080/oauth/callback"
CAL = "https://www.googleapis.com/auth/calendar"


@pytest.fixture(scope="session")
def sandbox():
    handle = serve("127.0.0.1", 0, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    yield handle
    handle.shutdown()


@pytest.fixture(scope="session")
def base(sandbox) -> str:
    return sandbox.url


@pytest.fixture(autouse=True)
def _reset(base):
    requests.post(f"{base}/control/reset", timeout=5).raise_for_status()
    requests.delete(f"{base}/control/faults", timeout=5).raise_for_status()
    requests.post(f"{base}/control/notifications", json={"mode": "normal"}, timeout=5).raise_for_status()
    yield


def request_id_from(html: str) -> str:
    m = re.search(r'name="request_id" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


class OAuthHelper:
    """Drives the consent page with plain HTTP, as a browser would."""

    def __init__(self, base: str):
        self.base = base

    def authorize(self, email="alice@example.com", scopes=(f"{CAL}.events",), granted=None, *,
                  access_type="offline", prompt="consent", extra=None, verifier=None, action="allow"):
        params = {
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
            "scope": " ".join(scopes), "state": "st-" + secrets.token_hex(4), "access_type": access_type,
        }
        if prompt:
            params["prompt"] = prompt
        if verifier:
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra or {})
        page = requests.get(f"{self.base}/o/oauth2/v2/auth", params=params, timeout=5)
        assert page.status_code == 200, page.text
        offered = re.findall(r'name="scope" id="[^"]+" value="([^"]+)"', page.text)
        form = {"request_id": request_id_from(page.text), "account": email, "action": action,
                "scope": list(granted) if granted is not None else offered}
        resp = requests.post(f"{self.base}/o/oauth2/v2/auth/consent", data=form, allow_redirects=False, timeout=5)
        assert resp.status_code == 302, resp.text
        loc = urlparse(resp.headers["Location"])
        query = {k: v[0] for k, v in parse_qs(loc.query).items()}
        assert query.get("state") == params["state"]
        return query

    def exchange(self, code, verifier=None, redirect_uri=REDIRECT_URI):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        if verifier:
            data["code_verifier"] = verifier
        return requests.post(f"{self.base}/token", data=data, timeout=5)

    def tokens(self, email="alice@example.com", scopes=(f"{CAL}.events",), granted=None, **kw) -> dict:
        verifier = secrets.token_urlsafe(48)
        q = self.authorize(email, scopes, granted, verifier=verifier, **kw)
        resp = self.exchange(q["code"], verifier)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def oauth(base) -> OAuthHelper:
    return OAuthHelper(base)


@pytest.fixture
def service_for(base, oauth):
    """service_for(email, scopes) -> googleapiclient Calendar service built like production."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    def make(email="alice@example.com", scopes=(CAL,)):
        tok = oauth.tokens(email, scopes)
        creds = Credentials(
            tok["access_token"], refresh_token=tok.get("refresh_token"), token_uri=f"{base}/token",
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scopes=tok["scope"].split(),
        )
        return build("calendar", "v3", credentials=creds, static_discovery=True, cache_discovery=False,
                     client_options={"api_endpoint": base + "/calendar/v3/"})

    return make


class Receiver:
    """A tiny webhook endpoint recording push notification headers."""

    def __init__(self):
        self.received: list[dict] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.cond:
                    outer.received.append({"headers": {k: v for k, v in self.headers.items()}, "body": body,
                                           "path": self.path})
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
