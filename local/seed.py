"""Demo data for the local stack: one account with an owner and an assistant.

Keys are shown once at creation, so the demo logins are kept in .local/demo-logins.json; with
persisted Firestore data (PERSIST=1) the same account and keys come back after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.adapters.firestore import db
from shared.services import members

DEMO_ACCOUNT_ID = "demo"
LOGINS_FILE = Path(__file__).resolve().parent.parent / ".local" / "demo-logins.json"


def seed_demo(stack=None) -> list[dict]:
    if LOGINS_FILE.exists() and db().collection(members.ACCOUNTS).document(DEMO_ACCOUNT_ID).get().exists:
        return json.loads(LOGINS_FILE.read_text())
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
    LOGINS_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOGINS_FILE.write_text(json.dumps(logins, indent=2))
    return logins
