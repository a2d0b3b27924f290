"""Every notification email: subject and text in both languages, the reader's own time zone,
links, escaping of what people typed, and the .ics parsed back with icalendar."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import icalendar
import pytest

from shared.adapters import mail
from shared.domain import ics
from shared.services import email_preview, emails
from shared.web import i18n
from tests.helpers.notify import CANCEL_URL, RESCHEDULE_URL, fixed_guest_links

START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def guest_links(monkeypatch):
    fixed_guest_links(monkeypatch)


def booking(**changes) -> dict:
    data = {
        "id": "bk1",
        "title": "Intro <call>",
        "status": "confirmed",
        "sequence": 3,
        "start": START,
        "end": START + timedelta(minutes=90),
        "organizer": {"name": "Olivia O'Neil", "email": "olivia@example.com",
                      "timezone": "Europe/Berlin", "language": "de"},
        "guest": {"name": "Gus <script>alert(1)</script>", "email": "gus@example.com",
                  "timezone": "America/New_York", "language": "en"},
        "notes": "Bring <b>numbers</b> & charts",
        "google": {"meet_link": "https://meet.google.com/abc-defg-hij"},
    }
    data.update(changes)
    return data


def render(kind: str, role: str, b: dict | None = None, **data) -> mail.Email:
    b = b or booking()
    email = emails.render_email(kind, role, emails.recipient(b, role), booking=b, data=data)
    # Babel puts narrow no-break spaces before AM/PM; compare with plain ones.
    return dataclasses.replace(email, subject=email.subject.replace("\u202f", " "),
                               text=email.text.replace("\u202f", " "))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag in ("img", "link", "script"):
            self.external.append(tag)


def links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def test_guest_confirmation_in_english_in_the_guests_zone():
    email = render(emails.CONFIRMED, emails.GUEST)
    assert email.to_email == "gus@example.com"
    # 09:00 UTC is 04:00 in New York; the zone is named, in the subject too
    assert (email.subject
            == "Confirmed: Intro <call> with Olivia O'Neil on Nov 30, 2026, 4:00 AM (New York)")
    assert ("When: Monday, November 30, 2026, 4:00 AM–5:30 AM Eastern Time (America/New_York)"
            in email.text)
    assert "Duration: 1 hour, 30 minutes" in email.text
    assert "Where: https://meet.google.com/abc-defg-hij" in email.text
    assert "Organizer: Olivia O'Neil <olivia@example.com>" in email.text
    assert "Notes:\nBring <b>numbers</b> & charts" in email.text
    assert f"Cancel booking: {CANCEL_URL}" in email.text
    assert f"Reschedule: {RESCHEDULE_URL}" in email.text
    assert email.reply_to_email == "olivia@example.com"


def test_organizer_confirmation_in_german_in_the_organizers_zone():
    email = render(emails.CONFIRMED, emails.ORGANIZER)
    assert email.to_email == "olivia@example.com"
    assert email.subject.startswith("Neue Buchung: Intro <call> mit Gus")
    assert ("Wann: Montag, 30. November 2026, 10:00–11:30 Mitteleuropäische Zeit (Europe/Berlin)"
            in email.text)
    assert "Dauer: 1 Stunde, 30 Minuten" in email.text
    assert "Gast: Gus <script>alert(1)</script> <gus@example.com>" in email.text
    # organizers get no guest links and no invitation (their Google Calendar has the event)
    assert CANCEL_URL not in email.text and not email.attachments
    assert email.reply_to_email == "gus@example.com"


def test_html_escapes_everything_people_typed():
    email = render(emails.CONFIRMED, emails.ORGANIZER)
    assert "<script>" not in email.html
    assert "Gus &lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Bring &lt;b&gt;numbers&lt;/b&gt; &amp; charts" in email.html
    assert "Intro &lt;call&gt;" in email.html


def test_html_has_inline_styles_and_no_external_assets():
    for kind, role in [(k, r) for k, roles in emails.RECIPIENTS.items() for r in roles]:
        email = email_preview.render(kind, role, "en")
        parsed = links(email.html)
        assert parsed.external == [], kind
        assert "<style" not in email.html and "style=" in email.html
        assert not re.search(r"""(src|href)=["']//""", email.html)


def test_guest_buttons_link_to_guest_links():
    parsed = links(render(emails.CONFIRMED, emails.GUEST).html)
    # the href is escaped in the HTML and comes back whole
    assert CANCEL_URL in parsed.hrefs and RESCHEDULE_URL in parsed.hrefs
    assert "https://meet.google.com/abc-defg-hij" in parsed.hrefs


def test_organizer_gets_the_google_event_to_manage_it():
    event = "https://www.google.com/calendar/event?eid=abc123"
    b = booking(google={"meet_link": "https://meet.google.com/abc-defg-hij", "html_link": event})
    for kind in (emails.CONFIRMED, emails.RESCHEDULED):
        email = render(kind, emails.ORGANIZER, b)
        assert event in links(email.html).hrefs and f"In Google Kalender öffnen: {event}" in email.text
        assert "informiert Gus" in email.text
    assert event not in render(emails.CONFIRMED, emails.GUEST, b).html
    assert event not in render(emails.CANCELLED, emails.ORGANIZER, b).html
    forged = booking(google={"html_link": "javascript:alert(1)"})
    assert "javascript:" not in render(emails.CONFIRMED, emails.ORGANIZER, forged).html


def test_only_https_meet_links_become_links():
    email = render(emails.CONFIRMED, emails.GUEST, booking(google={"meet_link": "javascript:x"}))
    assert "javascript:" not in email.html and "Where:" not in email.text


def test_reschedule_shows_old_and_new_time():
    b = booking(previous={"start": START - timedelta(days=1),
                          "end": START - timedelta(days=1) + timedelta(minutes=90)})
    guest = render(emails.RESCHEDULED, emails.GUEST, b)
    assert "When: Monday, November 30, 2026, 4:00 AM" in guest.text
    assert "Previously: Sunday, November 29, 2026, 4:00 AM" in guest.text
    organizer = render(emails.RESCHEDULED, emails.ORGANIZER, b)
    assert organizer.subject.startswith("Verschoben: Intro <call> mit Gus")
    assert "Vorher: Sonntag, 29. November 2026, 10:00" in organizer.text


@pytest.mark.parametrize("by, guest_line, organizer_line", [
    ("guest", "You cancelled your booking with Olivia O'Neil.",
     "hat die Buchung abgesagt."),
    ("organizer", "Olivia O'Neil cancelled your booking.",
     "Sie haben die Buchung mit Gus"),
    ("google", "The event was removed from Olivia O'Neil's calendar",
     "Der Termin wurde im Google Kalender gelöscht"),
])
def test_cancellation_says_who_and_why(by, guest_line, organizer_line):
    b = booking(status="cancelled", cancelled_by=by, cancel_reason="Sick <today>")
    guest = render(emails.CANCELLED, emails.GUEST, b)
    assert guest_line in guest.text
    assert "Reason: Sick <today>" in guest.text and "Sick &lt;today&gt;" in guest.html
    # a cancelled booking offers no buttons
    assert CANCEL_URL not in guest.text
    assert organizer_line in render(emails.CANCELLED, emails.ORGANIZER, b).text


def test_guest_declined_goes_to_the_organizer():
    assert emails.RECIPIENTS[emails.GUEST_DECLINED] == (emails.ORGANIZER,)
    email = render(emails.GUEST_DECLINED, emails.ORGANIZER)
    assert email.subject.startswith("Abgelehnt: Gus")


@pytest.mark.parametrize("minutes, english, german", [
    (1440, "in 1 day", "in 1 Tag"),
    (2880, "in 2 days", "in 2 Tagen"),
    (90, "in 90 minutes", "in 90 Minuten"),
    (60, "in 1 hour", "in 1 Stunde"),
    (0, "now", "jetzt"),
])
def test_reminder_says_exactly_when(minutes, english, german):
    assert render(emails.REMINDER, emails.GUEST, minutes=minutes).subject.endswith(english)
    b = booking(guest={**booking()["guest"], "language": "de"})
    assert render(emails.REMINDER, emails.GUEST, b, minutes=minutes).subject.endswith(german)


def test_followup_to_both_without_buttons():
    guest = render(emails.FOLLOWUP, emails.GUEST)
    assert guest.subject == "Thank you for meeting Olivia O'Neil" and CANCEL_URL not in guest.text
    assert render(emails.FOLLOWUP, emails.ORGANIZER).subject == "Ihr Termin mit Gus <script>alert(1)</script> ist vorbei"


def test_reconnect_email():
    owner = emails.Person("Olivia", "olivia@example.com", "en", "Europe/Berlin")
    email = emails.render_email(emails.RECONNECT_NEEDED, emails.OWNER, owner,
                                data={"google_email": "o@work.example",
                                      "reconnect_url": "https://oauth.example/integrations"})
    assert email.subject == "Please reconnect your Google account o@work.example"
    assert "https://oauth.example/integrations" in links(email.html).hrefs


def test_every_text_has_a_german_translation():
    for texts in emails._TEXTS.values():
        for text in filter(None, texts):
            assert i18n.gettext("de", text) != text, text
    for by in ("guest", "organizer", "google"):
        for to_guest in (True, False):
            line = emails._cancel_line(by, to_guest)
            assert i18n.gettext("de", line) != line


def test_unknown_zone_and_language_fall_back():
    b = booking(guest={"name": "", "email": "x@example.com", "timezone": "Mars/Base",
                       "language": "fr"})
    email = render(emails.CONFIRMED, emails.GUEST, b)
    assert "(UTC)" in email.text and email.subject.startswith("Confirmed:")
    assert email.to_name == "x@example.com"


def test_every_email_renders_in_both_languages():
    entries = email_preview.catalogue()
    assert {(e["kind"], e["lang"]) for e in entries} >= {
        (k, lang) for k in emails.RECIPIENTS for lang in ("en", "de")}
    by_lang = {}
    for e in entries:
        by_lang.setdefault((e["kind"], e["role"]), {})[e["lang"]] = e["subject"]
    for variant, subjects in by_lang.items():
        assert subjects["en"] != subjects["de"], f"{variant} is not translated"


# ---- .ics ---------------------------------------------------------------------------------------

def _event(email: mail.Email):
    (attachment,) = email.attachments
    cal = icalendar.Calendar.from_ical(attachment.content)
    (event,) = cal.walk("VEVENT")
    return attachment, cal, event


def test_confirmation_ics_is_a_request():
    attachment, cal, event = _event(render(emails.CONFIRMED, emails.GUEST))
    assert attachment.type == "text/calendar; method=REQUEST"
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "bk1@calbridge"
    assert int(event["SEQUENCE"]) == 3
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == START + timedelta(minutes=90)
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert str(event["ORGANIZER"]) == "mailto:olivia@example.com"
    assert event["ORGANIZER"].params["CN"] == "Olivia O'Neil"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:gus@example.com"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION" and attendee.params["RSVP"] == "TRUE"
    assert str(event["SUMMARY"]) == "Intro <call>"
    assert str(event["LOCATION"]) == "https://meet.google.com/abc-defg-hij"
    assert str(event["STATUS"]) == "CONFIRMED"


def test_reschedule_keeps_uid_and_raises_sequence():
    b = booking(sequence=4, start=START + timedelta(days=2), end=START + timedelta(days=2, hours=1))
    _, cal, event = _event(render(emails.RESCHEDULED, emails.GUEST, b))
    assert str(cal["METHOD"]) == "REQUEST" and str(event["UID"]) == "bk1@calbridge"
    assert int(event["SEQUENCE"]) == 4
    assert event.decoded("DTSTART") == START + timedelta(days=2)


def test_cancellation_ics_cancels():
    b = booking(sequence=5, status="cancelled", cancelled_by="guest")
    attachment, cal, event = _event(render(emails.CANCELLED, emails.GUEST, b))
    assert attachment.type.startswith("text/calendar; method=CANCEL")
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == "bk1@calbridge" and int(event["SEQUENCE"]) == 5


def test_reminders_carry_no_ics():
    assert not render(emails.REMINDER, emails.GUEST, minutes=30).attachments


def test_ics_rejects_other_methods():
    with pytest.raises(ValueError):
        ics.invitation(booking(), "COUNTER", title="x")


# ---- SendGrid payload ---------------------------------------------------------------------------

def test_mail_payload_is_sendgrid_shaped():
    email = render(emails.CONFIRMED, emails.GUEST)
    email = mail.Email(**{**email.__dict__, "to_name": "Gus; Inc,\r\nBcc: x",
                          "custom_args": {"send_id": "abc"}})
    body = mail.payload(email)
    (personalization,) = body["personalizations"]
    assert personalization["to"] == [{"email": "gus@example.com", "name": "Gus Inc Bcc: x"}]
    assert personalization["custom_args"] == {"send_id": "abc"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    (attachment,) = body["attachments"]
    assert attachment["filename"] == "invite.ics" and attachment["type"].startswith("text/calendar")
    assert body["reply_to"]["email"] == "olivia@example.com"
    assert "\n" not in body["subject"]
