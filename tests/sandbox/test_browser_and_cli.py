"""The consent page in headless Chromium, and the command-line entry point."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from .conftest import CAL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.browser
def test_consent_page_in_chromium(base, oauth, page):
    from google_auth_oauthlib.flow import Flow

    flow = Flow.from_client_config({"web": {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "auth_uri": f"{base}/o/oauth2/v2/auth",
        "token_uri": f"{base}/token", "redirect_uris": [REDIRECT_URI]}},
        scopes=["openid", "email", f"{CAL}.events", f"{CAL}.freebusy"], redirect_uri=REDIRECT_URI)
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    page.route(REDIRECT_URI + "*", lambda route: route.fulfill(status=200, body="callback"))
    page.goto(url)
    page.get_by_label("bob@example.com", exact=True).check()
    page.get_by_label(f"{CAL}.events", exact=True).uncheck()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(REDIRECT_URI + "*")
    query = parse_qs(urlparse(page.url).query)
    assert query["state"] == [state]
    token = flow.fetch_token(code=query["code"][0])
    assert f"{CAL}.events" not in token["scope"] and f"{CAL}.freebusy" in token["scope"]
    info = requests.get(f"{base}/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"},
                        timeout=5).json()
    assert info["email"] == "bob@example.com"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_module_entry_point():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": REPO, "SANDBOX_OAUTH_CLIENT_ID": "env-client.apps.googleusercontent.com"}
    proc = subprocess.Popen([sys.executable, "-m", "local.google_sandbox", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == f"google-sandbox listening on http://127.0.0.1:{port}"
        state = requests.get(f"http://127.0.0.1:{port}/control/state", timeout=5).json()
        assert state["config"]["client_id"] == "env-client.apps.googleusercontent.com"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
