"""The outbox pages a browser sees."""

from __future__ import annotations

import base64
import requests
from markupsafe import escape

SCRIPT_SUBJECT = "<script>alert('x')</script> & more"
BODY_HTML = (
    '<p class="x">Hi & welcome <a href="https://calbridge.test/b/1?a=1&amp;b=2">Confirm</a></p>'
)


def send(post_mail, make_mail) -> str:
    response = post_mail(make_mail(
        subject=SCRIPT_SUBJECT,
        personalizations=[{"to": [{"email": "guest@example.com", "name": "<Guest>"}],
                           "cc": [{"email": "host@example.com"}],
                           "custom_args": {"booking_id": "42"}}],
        content=[{"type": "text/plain", "value": "Hi <there>"},
                 {"type": "text/html", "value": BODY_HTML}],
        attachments=[{"content": base64.b64encode(b"BEGIN:VCALENDAR").decode(),
                      "filename": "invite.ics", "type": "text/calendar; method=REQUEST"}],
        headers={"X-Booking": "42"},
    ))
    assert response.status_code == 202, response.text
    return response.headers["X-Message-Id"]


def test_empty_outbox(sink):
    page = requests.get(f"{sink.url}/", timeout=5)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "No messages yet." in page.text


def test_outbox_lists_messages_escaped(sink, post_mail, make_mail):
    message_id = send(post_mail, make_mail)

    page = requests.get(f"{sink.url}/", timeout=5).text

    assert "<script>" not in page
    assert escape(SCRIPT_SUBJECT) in page
    assert f'href="/messages/{message_id}"' in page
    assert "bookings@calbridge.test" in page and "guest@example.com" in page


def test_message_page_shows_everything(sink, post_mail, make_mail):
    message_id = send(post_mail, make_mail)

    page = requests.get(f"{sink.url}/messages/{message_id}", timeout=5).text

    assert "<script>" not in page
    assert f"<h1>{escape(SCRIPT_SUBJECT)}</h1>" in page
    assert "&lt;Guest&gt; &lt;guest@example.com&gt;" in page
    assert "host@example.com" in page
    assert "X-Booking" in page and "booking_id" in page
    assert f'srcdoc="{escape(BODY_HTML)}"' in page
    assert 'sandbox="allow-popups' in page
    assert '<pre id="text-body">Hi &lt;there&gt;</pre>' in page
    assert f'href="/api/messages/{message_id}/attachments/0"' in page
    assert f'href="/api/messages/{message_id}">Raw JSON</a>' in page
    assert f'href="/api/messages/{message_id}/html">Open HTML body</a>' in page


def test_html_body_is_served_as_sent(sink, post_mail, make_mail):
    message_id = send(post_mail, make_mail)

    body = requests.get(f"{sink.url}/api/messages/{message_id}/html", timeout=5)

    assert body.text == BODY_HTML
    assert body.headers["Content-Security-Policy"].startswith("sandbox ")
