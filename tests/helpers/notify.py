"""Helpers for the notification tests: booking dicts, the mail sink's view, fixed guest links."""

from __future__ import annotations

import sys
import time
import types
import uuid
from datetime import datetime, timedelta, timezone

import requests

CANCEL_URL = "https://booking.example/cancel?token=t&b=1"
RESCHEDULE_URL = "https://booking.example/reschedule?token=t"


def fixed_guest_links(monkeypatch) -> None:
    """In-process tests pin the guest links (shared.services.guest_links) to known URLs."""
    try:
        from shared.services import guest_links as module
    except ImportError:
        module = types.ModuleType("shared.services.guest_links")
        monkeypatch.setitem(sys.modules, "shared.services.guest_links", module)
    monkeypatch.setattr(module, "cancel_url", lambda booking: CANCEL_URL, raising=False)
    monkeypatch.setattr(module, "reschedule_url", lambda booking: RESCHEDULE_URL, raising=False)


def make_booking(start: datetime | None = None, minutes: int = 30, **changes) -> dict:
    """A booking document as the booking service stores it, with a fresh id and addresses."""
    booking_id = uuid.uuid4().hex
    start = start or datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    data = {
        "id": booking_id,
        "account_id": "acct-" + booking_id[:8],
        "event_type_id": "",
        "title": "Intro call",
        "source": "calbridge",
        "status": "confirmed",
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "sequence": 1,
        "organizer": {"name": "Olivia", "email": f"org-{booking_id[:12]}@example.com",
                      "timezone": "Europe/Berlin", "language": "en"},
        "guest": {"name": "Gus", "email": f"guest-{booking_id[:12]}@example.com",
                  "timezone": "Europe/London", "language": "de"},
        "notes": "",
        "google": {"meet_link": "https://meet.google.com/abc-defg-hij"},
        "reminders": [],
    }
    data.update(changes)
    return data


def sink_messages(mail_sink: str, **custom_args) -> list[dict]:
    params = [("custom_arg", f"{k}:{v}") for k, v in custom_args.items()]
    response = requests.get(f"{mail_sink}/api/messages", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def wait_for_messages(mail_sink: str, count: int, timeout: float = 20, **custom_args) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = sink_messages(mail_sink, **custom_args)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def set_faults(mail_sink: str, plan: dict | None) -> None:
    if plan is None:
        requests.delete(f"{mail_sink}/control/faults", timeout=10).raise_for_status()
    else:
        requests.post(f"{mail_sink}/control/faults", json=plan, timeout=10).raise_for_status()
