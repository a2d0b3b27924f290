"""Pages given bad input answer a readable HTML page with a 4xx, never a 500: unknown booking
pages, malformed dates and zones in the query, oversized forms, forged guest links, broken
OAuth callbacks."""

from __future__ import annotations

import pytest
import requests

from tests.helpers.accounts import bookable_owner

pytestmark = pytest.mark.stack
FAR = "9999-12-31T23:59:59+00:00"


@pytest.fixture(scope="module")
def guest(stack, urls):
    """A booked guest: the owner, and the links of the guest's booking."""
    owner = bookable_owner(urls, "pages")
    public = f"{urls['booking']}/api/public/{owner['account_id']}/{owner['slug']}"
    start = requests.get(f"{public}/slots", timeout=30).json()["slots"][0]["start"]
    booked = requests.post(f"{public}/bookings", timeout=60,
                           json={"start": start, "name": "Gus", "email": "gus@example.com"})
    assert booked.status_code == 201, booked.text
    return {**owner, **booked.json()}


def _readable(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1" in response.text and "Traceback" not in response.text


def test_booking_page_query_and_form(urls, guest):
    page = f"{urls['booking']}/book/{guest['account_id']}/{guest['slug']}"
    _readable(requests.get(f"{urls['booking']}/book/nobody/nothing", timeout=30), 404)
    _readable(requests.get(f"{urls['booking']}/book/__x__/__x__", timeout=30), 404)
    for query in ("from=garbage", "from=9999-12-31", "day=2026-02-30", "tz=Mars/Olympus",
                  "tz=" + "A" * 5000):
        _readable(requests.get(f"{page}?{query}", timeout=30), 400)
    for start in ("garbage", "2026-01-01T10:00:00", FAR):
        _readable(requests.post(page, timeout=30, data={
            "start": start, "name": "A", "email": "a@example.com"}), 400)
    # Past the body limit: still a page (it was the JSON API's 413).
    _readable(requests.post(page, timeout=30, data={
        "start": "x", "name": "A", "email": "a@example.com", "notes": "n" * 300_000}), 413)


def test_guest_links_forged_wrong_or_with_bad_input(urls, guest):
    cancel, reschedule = guest["cancel_url"].split("?")[0], guest["reschedule_url"].split("?")[0]
    forged = cancel[:-4] + ("AAAA" if not cancel.endswith("AAAA") else "BBBB")
    _readable(requests.get(forged, timeout=30), 404)
    _readable(requests.post(forged, data={"reason": "x"}, timeout=30), 404)
    _readable(requests.get(f"{urls['booking']}/b/reschedule/garbage", timeout=30), 404)
    # A cancel token does not open the reschedule page.
    token = cancel.rsplit("/", 1)[1]
    _readable(requests.get(f"{urls['booking']}/b/reschedule/{token}", timeout=30), 404)
    _readable(requests.get(f"{reschedule}?from=9999-12-31", timeout=30), 400)
    _readable(requests.get(f"{reschedule}?tz=" + "A" * 5000, timeout=30), 400)
    _readable(requests.post(reschedule, data={"start": FAR}, timeout=30), 400)
    # Nothing of that touched the booking.
    view = requests.get(guest["cancel_url"], timeout=30)
    _readable(view, 200)


def test_oauth_callback_with_bad_parameters(urls):
    callback = f"{urls['oauth']}/oauth/callback"
    for query in ("code=x&state=y", "error=access_denied", "error=access_denied&state=y", "",
                  "state=__x__&code=c", "state=..&code=c", "state=a/b&code=c",
                  "state=" + "s" * 3000):
        _readable(requests.get(f"{callback}?{query}", timeout=30, allow_redirects=False), 400)
