"""The booking page as guests use it: with the keyboard only, on a phone (German, touch, 375 px),
in their own time zone without choosing it, switching language without losing their place, and
a mistyped address that answers a page rather than JSON."""

from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import PHONE, open_tab
from tests.helpers.accounts import bookable_owner

pytestmark = [pytest.mark.browser, pytest.mark.stack]


@pytest.fixture(scope="module")
def booking_url(stack, urls):
    owner = bookable_owner(urls, "ux")
    return f"{urls['booking']}/book/{owner['account_id']}/{owner['slug']}"


@pytest.fixture
def guest_tab(browser):
    """A desktop guest in Tokyo."""
    with open_tab(browser, locale="en-US", timezone_id="Asia/Tokyo",
                  viewport={"width": 1100, "height": 900}) as tab:
        yield tab


@pytest.fixture
def phone_guest(browser):
    """A guest in Berlin on a phone, in German."""
    with open_tab(browser, locale="de-DE", timezone_id="Europe/Berlin", **PHONE) as tab:
        yield tab


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches `selector` (fails if it never does)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1


def test_keyboard_only_booking_in_the_guests_own_zone(booking_url, guest_tab):
    page = guest_tab
    page.goto(booking_url)
    # Nobody chose a zone: the page shows the guest's own one, and says so.
    page.wait_for_url(re.compile(r"tz=Asia%2FTokyo"))
    page.locator("#tz-note strong", has_text="Japan Time (Asia/Tokyo)").wait_for()

    tab_to(page, "a.day")
    first_day = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(first_day.split("#")[0]) + ".*#times"))
    assert page.locator("a.day[aria-current=date]").count() == 1

    tab_to(page, "input[name=start]")
    page.keyboard.press("ArrowRight")  # the second free time
    assert page.locator("input[name=start]").nth(1).is_checked()
    tab_to(page, "#name")
    page.keyboard.type("Keyboard Guest")
    page.keyboard.press("Tab")
    page.keyboard.type("keys@example.org")
    tab_to(page, "#booking-form button[type=submit]")
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="You are booked").wait_for()
    when = page.locator("dl.details dd").nth(1).inner_text()
    assert "Japan Time (Asia/Tokyo)" in when and "–" in when  # start–end, zone named


def test_phone_booking_in_german_with_touch(booking_url, phone_guest):
    page = phone_guest
    page.goto(booking_url)
    page.get_by_role("heading", name="Tag wählen").wait_for()
    no_sideways_scroll(page)
    days = page.locator("a.day")
    for box in (days.nth(i).bounding_box() for i in range(days.count())):
        assert box["height"] >= 44 and box["width"] >= 44, box
    days.last.tap()
    page.wait_for_url(re.compile("#times$"))
    slots = page.locator("label.slot")
    assert slots.count() and all(slots.nth(i).bounding_box()["height"] >= 44
                                 for i in range(slots.count()))
    slots.first.tap()
    assert page.locator("input[name=start]").first.is_checked()
    page.get_by_label("Name").fill("Handy Gast")
    page.get_by_label("E-Mail").fill("handy@example.org")
    page.get_by_role("button", name="Buchen").tap()
    page.get_by_role("heading", name="Ihr Termin ist gebucht").wait_for()
    assert "Mitteleuropäische Zeit (Europe/Berlin)" in page.locator("dl.details").inner_text()
    page.get_by_role("link", name="Buchung absagen").wait_for()
    no_sideways_scroll(page)


def test_switching_language_keeps_the_chosen_day_and_zone(booking_url, guest_tab):
    page = guest_tab
    page.goto(booking_url + "?tz=America/New_York")
    page.locator("a.day").last.click()
    day = re.search(r"day=([0-9-]+)", page.url).group(1)
    page.get_by_role("link", name="Deutsch").click()
    page.get_by_role("heading", name="Tag wählen").wait_for()
    assert "tz=America%2FNew_York" in page.url and f"day={day}" in page.url
    current = page.locator("a.day[aria-current=date]")
    assert f"day={day}" in current.get_attribute("href")


def test_a_mistyped_address_is_a_page_for_people_and_json_for_programs(urls, page):
    page.goto(f"{urls['booking']}/book-typo")
    page.get_by_role("heading", name="Not found").wait_for()
    assert page.get_by_text("There is no page at this address.").is_visible()
    api = requests.get(f"{urls['booking']}/book-typo", timeout=10)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_a_typing_mistake_is_explained_in_the_guests_language_at_the_field(booking_url):
    page = requests.get(booking_url, params={"lang": "de"}, timeout=30)
    start = re.search(r'name="start" value="([^"]+)"', page.text).group(1)
    form = {"start": start, "name": "Gast", "email": "gast@nowhere", "tz": "Europe/Berlin",
            "notes": "", "request_id": "typo-1"}
    answer = requests.post(booking_url, params={"lang": "de"}, data=form, timeout=30)
    assert answer.status_code == 400
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein" in answer.text
    email_input = re.search(r'<input id="email"[^>]*>', answer.text).group(0)
    assert 'aria-invalid="true"' in email_input and "autofocus" in email_input
    assert 'value="gast@nowhere"' in email_input  # what they typed stays
