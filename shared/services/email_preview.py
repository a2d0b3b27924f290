"""Every notification email rendered for a sample booking, in both languages, for review.

Served by the notify function at GET /preview, and as a CLI that writes the same emails to a
folder (HTML, text and .ics side by side, plus an index.html):

    python -m shared.services.email_preview [OUTPUT_DIR]
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared import errors
from shared.adapters import mail
from shared.services import emails
from shared.web import i18n

i18n.register({
    "Email preview": "E-Mail-Vorschau",
    "Every notification email, rendered for a sample booking in both languages.":
        "Jede Benachrichtigung, für eine Beispielbuchung in beiden Sprachen erzeugt.",
    "Notification emails": "Benachrichtigungen",
    "Email": "E-Mail",
    "Recipient": "Empfänger",
    "Subject": "Betreff",
    "View": "Ansehen",
    "Text": "Text",
})

_START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def sample_booking(lang: str) -> dict:
    """A booking that exercises every part of the templates, including text needing escaping."""
    return {
        "id": "sample-booking",
        "account_id": "sample-account",
        "event_type_id": "sample-event-type",
        "title": "Strategy call",
        "status": "confirmed",
        "sequence": 2,
        "start": _START,
        "end": _START + timedelta(minutes=45),
        "previous": {"start": _START - timedelta(days=1),
                     "end": _START - timedelta(days=1) + timedelta(minutes=45)},
        "organizer": {"name": "Olivia Organizer", "email": "olivia@example.com",
                      "timezone": "Europe/Berlin", "language": lang},
        "guest": {"name": "Gustav <Gast> & Co", "email": "gustav@example.com",
                  "timezone": "America/New_York", "language": lang},
        "notes": "Agenda:\n1. <b>Budget</b> & hiring\n2. Next steps",
        "google": {"meet_link": "https://meet.google.com/abc-defg-hij",
                   "html_link": "https://www.google.com/calendar/event?eid=cHJldmlldw"},
        "cancelled_by": "guest",
        "cancel_reason": "Something came up — sorry!",
        "reminders": [{"method": "email", "minutes": 1440}],
    }


def _variants() -> list[tuple[str, str]]:
    return [(kind, role) for kind, roles in emails.RECIPIENTS.items() for role in roles]


def render(kind: str, role: str, lang: str) -> mail.Email:
    if (kind, role) not in _variants() or lang not in i18n.LANGUAGES:
        raise errors.NotFound(f"no sample email {kind}/{role}/{lang}")
    booking = sample_booking(lang)
    if kind == emails.RECONNECT_NEEDED:
        owner = emails.Person("Olivia Organizer", "olivia@example.com", lang, "Europe/Berlin")
        return emails.render_email(kind, role, owner,
                                   data={"google_email": "olivia.work@example.com"})
    return emails.render_email(kind, role, emails.recipient(booking, role), booking=booking,
                               data={"minutes": 1440})


def catalogue() -> list[dict]:
    """One entry per email: kind, role, language, subject and links to its parts (served at
    /preview/<kind>/<role>/<lang>)."""
    found = []
    for kind, role in _variants():
        for lang in i18n.LANGUAGES:
            email = render(kind, role, lang)
            path = f"/preview/{kind}/{role}/{lang}"
            found.append({"kind": kind, "role": role, "lang": lang, "subject": email.subject,
                          "html": path, "text": f"{path}?format=text",
                          "ics": f"{path}?format=ics" if email.attachments else None})
    return found


def write(folder: Path) -> list[Path]:
    """Write every email as <kind>-<role>-<lang>.html/.txt(/.ics) and an index.html."""
    from shared.web.render import render as render_template

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    entries = catalogue()
    for entry in entries:
        email = render(entry["kind"], entry["role"], entry["lang"])
        stem = f"{entry['kind']}-{entry['role']}-{entry['lang']}"
        files = {f"{stem}.html": email.html.encode(), f"{stem}.txt": email.text.encode()}
        if email.attachments:
            files[f"{stem}.ics"] = email.attachments[0].content
        for name, content in files.items():
            (folder / name).write_bytes(content)
            written.append(folder / name)
        entry.update(html=f"{stem}.html", text=f"{stem}.txt",
                     ics=f"{stem}.ics" if email.attachments else None)
    index = folder / "index.html"
    index.write_text(render_template("email/preview.html", "en", emails=entries),
                     encoding="utf-8")
    return [index, *written]


def main(argv: list[str]) -> int:
    from shared import secrets

    folder = Path(argv[0]) if argv else Path(".local/email-preview")
    try:
        secrets.get(secrets.SIGNING_KEY)
    except secrets.MissingSecret:
        # Outside the stack the sample's guest links need some key; they point nowhere real.
        os.environ["CALBRIDGE_SECRET_SIGNING_KEY"] = "email-preview-only"
    written = write(folder)
    print(f"wrote {len(written)} files to {folder}; open {folder / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
