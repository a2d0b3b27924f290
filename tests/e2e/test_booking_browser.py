"""A guest in headless Chromium: books a slot on the booking page, the event with its Meet link
appears in the organizer's sandbox calendar, and the Cancel link of the guest's confirmation
email (read from the mail sink) cancels it after the confirmation question. Also the German
booking page at phone width."""

from __future__ import annotations

import html
import re
import uuid

import pytest
import requests

from shared.services import event_types
from tests.helpers import sandbox

pytestmark = pytest.mark.browser


@pytest.fixture
def organizer(stack, urls):
    email = sandbox.new_user(urls, "browser")
    account_id, _, _ = sandbox.connect(urls, email)
    event_types.create(account_id, {
        "title": "Intro call", "slug": "intro", "duration_minutes": 30,
        "timezone": "Europe/Berlin", "min_notice_minutes": 0,
        "weekly_hours": {d: [{"start": "08:00", "end": "20:00"}]
                         for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    return {"email": email, "url": f"{urls['booking']}/book/{account_id}/intro"}


def _sandbox_events(urls, calendar_id) -> list[dict]:
    r = requests.get(f"{urls['google_sandbox']}/control/calendars/{calendar_id}/events",
                     timeout=10)
    r.raise_for_status()
    return r.json()["items"]


def _guest_email(urls, guest) -> dict:
    def confirmation():
        found = requests.get(f"{urls['mail_sink']}/api/messages", params={"to": guest},
                             timeout=10).json()
        return found[0] if found else None

    return sandbox.wait_for(confirmation, timeout=30, what=f"the email to {guest}")


def test_book_on_the_page_then_cancel_from_the_email(organizer, urls, page):
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.org"
    page.goto(organizer["url"] + "?tz=America/New_York")
    page.locator(".days a").nth(1).click()
    page.locator("#booking-form input[name=start]").first.check()
    page.get_by_label("Name").fill("Browser <Guest>")
    page.get_by_label("Email").fill(guest)
    page.get_by_role("button", name="Book").click()
    page.get_by_role("heading", name="You are booked").wait_for()
    meet = page.locator("#meet-link").get_attribute("href")
    assert meet.startswith("https://meet.google.com/")

    (event,) = [e for e in _sandbox_events(urls, organizer["email"])
                if e.get("status") != "cancelled"]
    assert event["hangoutLink"] == meet
    assert [a["email"] for a in event["attendees"]] == [guest]

    message = _guest_email(urls, guest)
    body = requests.get(f"{urls['mail_sink']}/api/messages/{message['id']}/html", timeout=10).text
    cancel = next(html.unescape(href) for href in re.findall(r'href="([^"]+)"', body)
                  if "/b/cancel/" in href)
    page.goto(cancel)
    page.get_by_text("Do you really want to cancel").wait_for()
    assert _sandbox_events(urls, organizer["email"])[0]["status"] != "cancelled"  # GET is safe
    page.get_by_role("button", name="Yes, cancel the booking").click()
    page.get_by_role("heading", name="Your booking has been cancelled").wait_for()
    assert all(e["status"] == "cancelled" for e in _sandbox_events(urls, organizer["email"])
               if e["id"] == event["id"])


def test_german_booking_page_at_phone_width(organizer, phone_page):
    phone_page.goto(organizer["url"])
    phone_page.get_by_role("heading", name="Tag wählen").wait_for()
    assert phone_page.locator("html").get_attribute("lang") == "de"
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1
    phone_page.get_by_label("Zeitzone").select_option("Asia/Tokyo")
    phone_page.get_by_role("button", name="Zeiten anzeigen").click()
    phone_page.locator("strong", has_text="Asia/Tokyo").wait_for()
    assert "tz=Asia%2FTokyo" in phone_page.url
