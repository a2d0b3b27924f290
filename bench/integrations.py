"""Connecting Google accounts and reading the integration, on the local stack.

connect_flow_p95_ms: one whole OAuth round trip as the browser makes it (GET /oauth/connect,
    the sandbox consent page and its form, the callback that exchanges the code, verifies the
    id_token, lists calendars and stores everything), each with a new Google user.
integrations_api_p95_ms: GET /api/integrations for an account with two connected Google
    accounts (what the Integrations page reads on every view).
"""

from __future__ import annotations

import time

import requests

from bench.common import Row, p95

CONNECTS = 10
READS = 50


def run(ctx) -> list[Row]:
    urls = ctx.stack.urls
    from tests.helpers.accounts import new_team
    from tests.helpers.google_connect import connect_google_account, create_google_user

    team = new_team("Bench")
    connects = []
    for _ in range(CONNECTS):
        email = create_google_user(urls)
        started = time.perf_counter()
        connect_google_account(urls, team["owner_key"], email)
        connects.append((time.perf_counter() - started) * 1000)

    reader = new_team("Bench reads")
    for email in ("alice@example.com", "bob@example.com"):
        connect_google_account(urls, reader["owner_key"], email)
    headers = {"Authorization": f"Bearer {reader['owner_key']}"}
    reads = []
    with requests.Session() as http:
        for _ in range(READS):
            started = time.perf_counter()
            http.get(f"{urls['oauth']}/api/integrations", headers=headers,
                     timeout=15).raise_for_status()
            reads.append((time.perf_counter() - started) * 1000)
    return [
        Row("connect_flow_p95_ms", "ms", 1500, round(p95(connects), 1)),
        Row("integrations_api_p95_ms", "ms", 300, round(p95(reads), 1)),
    ]
