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
