"""The operator CLI creates accounts and members whose printed keys work."""

import json

from shared import cli
from shared.services import members


def test_create_account_and_add_member_print_working_keys(stack, capsys):
    assert cli.main(["create-account", "--name", "Studio <b>", "--owner-name", "Olga",
                     "--owner-email", "olga@example.net", "--json"]) == 0
    owner = json.loads(capsys.readouterr().out)
    assert members.member_by_key(owner["api_key"]).role == "owner"
    assert members.account_owner(owner["account_id"]).id == owner["member_id"]
    assert cli.main(["add-member", "--account-id", owner["account_id"], "--name", "Ali",
                     "--email", "ali@example.net"]) == 0
    out = capsys.readouterr().out
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("api_key"))
    assistant = members.member_by_key(key)
    assert assistant.role == "assistant" and assistant.account_id == owner["account_id"]


def test_cli_errors_are_one_line(stack, capsys):
    assert cli.main(["add-member", "--account-id", "missing", "--name", "x",
                     "--email", "x@example.net"]) == 2
    assert capsys.readouterr().err.strip() == "error: account not found"
    assert cli.main(["create-account", "--name", "x", "--owner-name", "x", "--owner-email",
                     "x@example.net", "--timezone", "Mars/Base"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
