"""Command line for operators: create accounts and their members, and print their API keys.

    python -m shared.cli create-account --name "Studio" --owner-name "Olga" --owner-email o@x.de
    python -m shared.cli add-member --account-id ID --role assistant --name "Ali" --email a@x.de

It talks to the Firestore of the current environment (FIRESTORE_EMULATOR_HOST for the local
stack; application default credentials and GOOGLE_CLOUD_PROJECT in the cloud). A key is shown
once, here: only its hash is stored.
"""

from __future__ import annotations

import argparse
import json
import sys

from shared import errors
from shared.services import members


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:<11} {value}")
    print("\nThe API key is shown only now; store it safely. Sign in with it at /signin.")


def create_account(args) -> dict:
    account, owner, key = members.create_account(
        name=args.name, owner_name=args.owner_name, owner_email=args.owner_email,
        timezone_name=args.timezone, language=args.language, account_id=args.account_id,
    )
    return {"account_id": account["id"], "member_id": owner.id, "role": owner.role,
            "email": owner.email, "api_key": key}


def add_member(args) -> dict:
    members.get_account(args.account_id)
    member, key = members.add_member(args.account_id, role=args.role, name=args.name,
                                     email=args.email, language=args.language)
    return {"account_id": member.account_id, "member_id": member.id, "role": member.role,
            "email": member.email, "api_key": key}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-account", help="create an account with its owner")
    create.add_argument("--name", required=True, help="the account's (business) name")
    create.add_argument("--owner-name", required=True)
    create.add_argument("--owner-email", required=True)
    create.add_argument("--timezone", default="Europe/Berlin", help="IANA zone (Europe/Berlin)")
    create.add_argument("--language", default="en", choices=("en", "de"))
    create.add_argument("--account-id", help="fixed id instead of a random one")
    create.set_defaults(run=create_account)

    add = commands.add_parser("add-member", help="add an owner or an assistant to an account")
    add.add_argument("--account-id", required=True)
    add.add_argument("--role", default=members.ASSISTANT, choices=members.ROLES)
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--language", default="en", choices=("en", "de"))
    add.set_defaults(run=add_member)

    for sub in (create, add):
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.run(args)
    except errors.AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    _print(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
