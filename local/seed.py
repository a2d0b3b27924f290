"""Demo data for the local stack: one account with an owner and an assistant, and its booking
page "intro-call" (30 minutes, Mon-Fri 09:00-17:00 Europe/Berlin) at /book/demo/intro-call;
it offers times once the owner has connected a (sandbox) Google account on the Integrations page.

Keys are shown once at creation, so the demo logins are kept in .local/demo-logins.json; with
persisted Firestore data (PERSIST=1) the same account and keys come back after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.adapters.firestore import db
from shared.services import members

DEMO_ACCOUNT_ID = "demo"
DEMO_EVENT_TYPE = {
    "title": "Intro call", "slug": "intro-call", "duration_minutes": 30,
    "timezone": "Europe/Berlin",
    "description": "A first 30-minute video call to get to know each other.",
    "weekly_hours": {d: [{"start": "09:00", "end": "17:00"}]
                     for d in ("mon", "tue", "wed", "thu", "fri")},
}


def _ensure_demo_event_type() -> None:
    from shared import errors
    from shared.services import event_types

    try:
        event_types.by_slug(DEMO_ACCOUNT_ID, DEMO_EVENT_TYPE["slug"], active_only=False)
    except errors.NotFound:
        event_types.create(DEMO_ACCOUNT_ID, DEMO_EVENT_TYPE)


def seed_demo(local_dir: Path) -> list[dict]:
    logins_file = local_dir / "demo-logins.json"
    account = db().collection(members.ACCOUNTS).document(DEMO_ACCOUNT_ID).get()
    if logins_file.exists() and account.exists:
        _ensure_demo_event_type()
        return json.loads(logins_file.read_text())
    _, owner, owner_key = members.create_account(
        name="Demo Studio", owner_name="Olivia Owner", owner_email="owner@demo.calbridge.local",
        timezone_name="Europe/Berlin", language="en", account_id=DEMO_ACCOUNT_ID,
    )
    assistant, assistant_key = members.add_member(
        DEMO_ACCOUNT_ID, role=members.ASSISTANT, name="Anton Assistant",
        email="assistant@demo.calbridge.local", language="de",
    )
    logins = [
        {"role": "owner", "name": owner.name, "email": owner.email, "api_key": owner_key,
         "account_id": DEMO_ACCOUNT_ID},
        {"role": "assistant", "name": assistant.name, "email": assistant.email,
         "api_key": assistant_key, "account_id": DEMO_ACCOUNT_ID},
    ]
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    logins_file.write_text(json.dumps(logins, indent=2))
    _ensure_demo_event_type()
    return logins
