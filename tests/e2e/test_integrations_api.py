"""The oauth function over HTTP: connecting Google accounts through the sandbox's real OAuth
flow, the JSON API and the page forms, owner-only rules, callback failures, disconnecting and
broken connections."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from shared.adapters.firestore import db
from shared.services import google_accounts, members
from tests.helpers.google_connect import (
    connect_google_account, finish, start_connect, submit_consent,
)

pytestmark = pytest.mark.stack

EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"


@pytest.fixture
def team(stack):
    """A fresh account with an owner and an assistant, and their API keys."""
    stamp = f"{time.time_ns()}"
    account, owner, owner_key = members.create_account(
        name="Studio", owner_name="Olga Owner", owner_email=f"olga{stamp}@example.net")
    assistant, assistant_key = members.add_member(
        account["id"], role=members.ASSISTANT, name="Ali Assistant",
        email=f"ali{stamp}@example.net")
    return {"account_id": account["id"], "owner": owner, "owner_key": owner_key,
            "assistant_key": assistant_key}


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


def stored_google_accounts(account_id: str) -> list:
    return google_accounts.list_for_account(account_id)


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
