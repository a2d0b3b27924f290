"""A fresh calbridge account per test: an owner and an assistant with their API keys."""

from __future__ import annotations

import time

from shared.services import members


def new_team(name: str = "Studio") -> dict:
    stamp = time.time_ns()
    account, owner, owner_key = members.create_account(
        name=name, owner_name="Olga Owner", owner_email=f"olga{stamp}@example.net")
    assistant, assistant_key = members.add_member(
        account["id"], role=members.ASSISTANT, name="Ali Assistant",
        email=f"ali{stamp}@example.net", language="de")
    return {"account_id": account["id"], "owner": owner, "owner_key": owner_key,
            "assistant": assistant, "assistant_key": assistant_key}


def bookable_owner(urls: dict, slug: str = "call") -> dict:
    """A new account whose owner connected a fresh sandbox Google account (its primary calendar
    the default), with one 30-minute event type `slug`: account_id, key (the owner's API key),
    google_account_id, event_type_id, slug."""
    from shared.services import event_types
    from tests.helpers import sandbox

    account_id, key, gid = sandbox.connect(urls, sandbox.new_user(urls, slug))
    event_type = event_types.create(account_id, {"title": "Intro call", "slug": slug,
                                                 "duration_minutes": 30})
    return {"account_id": account_id, "key": key, "google_account_id": gid,
            "event_type_id": event_type["id"], "slug": slug}
