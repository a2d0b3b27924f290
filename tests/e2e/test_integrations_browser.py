"""The Integrations page in headless Chromium: the owner signs in, connects two Google accounts
through the sandbox consent page, sets the default calendar, switches conflict checking and
disconnects one; the assistant sees the page read-only (in German, at phone width)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.accounts import new_team
from tests.helpers import sandbox
from tests.helpers.google_connect import create_google_user

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def sign_in(page, urls, key):
    page.goto(f"{urls['oauth']}/integrations")
    assert "/signin" in page.url
    page.get_by_label(re.compile("API key|API-Schlüssel")).fill(key)
    page.get_by_role("button", name=re.compile("Sign in|Anmelden")).click()
    page.wait_for_url(re.compile(r"/integrations"))


def consent(page, urls, email):
    """On the sandbox consent page: pick `email`, Allow; again if calbridge asks for consent."""
    for _ in range(2):
        page.wait_for_url(re.compile(re.escape(urls["google_sandbox"]) + "|/integrations"))
        if not page.url.startswith(urls["google_sandbox"]):
            return
        page.get_by_label(email, exact=True).check()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_load_state()
    assert "/integrations" in page.url


def test_owner_manages_google_accounts_and_assistant_reads(stack, urls, page, phone_page):
    team = new_team()
    second = create_google_user(urls, name="Second Person")
    sign_in(page, urls, team["owner_key"])
    assert page.get_by_role("heading", name="Integrations").is_visible()
    page.get_by_text("No Google account is connected yet.").wait_for()

    page.get_by_role("link", name="Connect Google Calendar").click()
    consent(page, urls, "alice@example.com")
    page.get_by_text("Connected alice@example.com.").wait_for()
    assert "alice@example.com" in page.locator("#default-calendar").inner_text()

    page.get_by_role("link", name="Add another Google account").click()
    consent(page, urls, second)
    page.get_by_text(f"Connected {second}.").wait_for()
    assert page.locator("section.google-account").count() == 2

    page.get_by_role("button", name="Make Team the default calendar").click()
    page.get_by_text("The default calendar was saved.").wait_for()
    assert "Team" in page.locator("#default-calendar").inner_text()

    team_row = page.locator("tr", has_text="Team").first
    assert team_row.locator(".conflict-state").inner_text() == "Off"
    page.get_by_role("button", name="Turn on conflict checking for Team").click()
    page.get_by_text("Conflict checking was updated.").wait_for()
    assert page.locator("tr", has_text="Team").first.locator(".conflict-state").inner_text() == "On"

    # Google revokes the second account: refreshing it says so and offers Reconnect.
    sandbox.control(urls, f"users/{second}/revoke")
    second_section = page.locator("section.google-account", has_text=second)
    second_section.get_by_role("button", name="Refresh calendar list").click()
    page.get_by_text("please reconnect it").wait_for()
    assert second_section.get_by_role("link", name="Reconnect").is_visible()

    # Disconnecting asks first: the button is behind a disclosure that explains what happens.
    disconnect = page.get_by_role("button", name=f"Disconnect {second}")
    assert not disconnect.is_visible()
    page.locator("section.google-account", has_text=second).locator("summary").click()
    disconnect.click()
    page.get_by_text(f"Disconnected {second}.").wait_for()
    assert page.locator("section.google-account").count() == 1
    assert "Team" in page.locator("#default-calendar").inner_text()

    sign_in(phone_page, urls, team["assistant_key"])
    assert phone_page.get_by_role("heading", name="Integrationen").is_visible()
    phone_page.locator("#read-only-note").wait_for()
    assert phone_page.locator("section.google-account").count() == 1
    assert phone_page.locator("form[action^='/integrations/']").count() == 0
    assert phone_page.locator("a[href^='/oauth/connect']").count() == 0
    assert "Team" in phone_page.locator("#default-calendar").inner_text()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1, "the page must not scroll sideways at phone width"
