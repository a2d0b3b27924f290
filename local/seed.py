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


def seed_demo(local_dir: Path) -> list[dict]:
    logins_file = local_dir / "demo-logins.json"
    account = db().collection(members.ACCOUNTS).document(DEMO_ACCOUNT_ID).get()
    if logins_file.exists() and account.exists:
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
    return logins
