"""The JSON views of stored messages, and persistence with --store-dir."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import requests

from local.mail_sink import serve

ROOT = Path(__file__).resolve().parents[2]


def api(sink, path: str, **params):
    response = requests.get(f"{sink.url}/api{path}", params=params, timeout=5)
    return response.status_code, response.json()


def send(post_mail, make_mail, to: str, **overrides) -> str:
    response = post_mail(make_mail(
        personalizations=[{"to": [{"email": to}], **overrides.pop("personalization", {})}],
        **overrides,
    ))
    assert response.status_code == 202, response.text
    return response.headers["X-Message-Id"]


def test_list_is_newest_first(sink, post_mail, make_mail):
    first = send(post_mail, make_mail, "a@example.com")
    second = send(post_mail, make_mail, "b@example.com")

    status, messages = api(sink, "/messages")

    assert status == 200
    assert [m["id"] for m in messages] == [second, first]
    assert set(messages[0]) == {"id", "received_at", "from", "to", "subject", "categories",
                                "custom_args", "attachments"}


def test_filter_by_recipient_matches_to_cc_and_bcc(sink, post_mail, make_mail):
    to = send(post_mail, make_mail, "host@example.com")
    cc = send(post_mail, make_mail, "guest@example.com",
              personalization={"cc": [{"email": "Host@Example.com"}]})
    send(post_mail, make_mail, "other@example.com")

    _, messages = api(sink, "/messages", to="host@example.com")

    assert [m["id"] for m in messages] == [cc, to]


def test_filter_by_custom_arg(sink, post_mail, make_mail):
    wanted = send(post_mail, make_mail, "a@example.com",
                  personalization={"custom_args": {"booking_id": "42"}})
    inherited = send(post_mail, make_mail, "b@example.com", custom_args={"booking_id": "42"})
    send(post_mail, make_mail, "c@example.com", custom_args={"booking_id": "43"})

    _, messages = api(sink, "/messages", custom_arg="booking_id:42")
    _, none = api(sink, "/messages", custom_arg="booking_id:4")
    status, error = api(sink, "/messages", custom_arg="booking_id")

    assert [m["id"] for m in messages] == [inherited, wanted]
    assert messages[1]["custom_args"] == {"booking_id": "42"}
    assert none == []
    assert status == 400 and "key:value" in error["errors"][0]["message"]


def test_since_returns_only_newer_messages(sink, post_mail, make_mail):
    first = send(post_mail, make_mail, "a@example.com")
    second = send(post_mail, make_mail, "b@example.com")
    third = send(post_mail, make_mail, "c@example.com")

    _, newer = api(sink, "/messages", since=first)
    _, latest = api(sink, "/messages", since=third)
    status, _ = api(sink, "/messages", since="no-such-id")

    assert [m["id"] for m in newer] == [third, second]
    assert latest == []
    assert status == 404


def test_detail_expands_personalizations(sink, post_mail, make_mail):
    message_id = post_mail(make_mail(
        personalizations=[
            {"to": [{"email": "a@example.com"}], "cc": [{"email": "c@example.com"}],
             "subject": "Just for A", "custom_args": {"who": "a"}},
            {"to": [{"email": "b@example.com", "name": "B"}], "headers": {"X-Trace": "2"}},
        ],
        subject="Default subject",
        headers={"X-Trace": "1"},
        custom_args={"booking_id": "42"},
        reply_to={"email": "host@example.com"},
    )).headers["X-Message-Id"]

    status, message = api(sink, f"/messages/{message_id}")

    assert status == 200
    assert message["to"] == ["a@example.com", "b@example.com"]
    assert message["subject"] == "Default subject"
    first, second = message["personalizations"]
    assert first["subject"] == "Just for A"
    assert first["cc"] == [{"email": "c@example.com"}]
    assert first["custom_args"] == {"booking_id": "42", "who": "a"}
    assert first["headers"] == {"X-Trace": "1"}
    assert second["subject"] == "Default subject"
    assert second["headers"] == {"X-Trace": "2"}
    assert second["from"] == {"email": "bookings@calbridge.test", "name": "calbridge"}
    assert message["reply_to"] == {"email": "host@example.com"}
    assert message["html"] is None and message["html_url"] is None
    assert message["payload"]["headers"] == {"X-Trace": "1"}


def test_unknown_message_and_missing_parts_are_404(sink, post_mail, make_mail):
    message_id = send(post_mail, make_mail, "a@example.com")

    for path in ("/api/messages/nope", "/api/messages/nope/html", "/messages/nope",
                 f"/api/messages/{message_id}/html",
                 f"/api/messages/{message_id}/attachments/0"):
        response = requests.get(f"{sink.url}{path}", timeout=5)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["message"] == "Not Found"


def test_attachment_with_non_ascii_name(sink, post_mail, make_mail):
    data = "Grüße".encode()
    message_id = post_mail(make_mail(attachments=[
        {"content": base64.b64encode(data).decode(), "filename": "Grüße.txt"},
    ])).headers["X-Message-Id"]

    response = requests.get(f"{sink.url}/api/messages/{message_id}/attachments/0", timeout=5)

    assert response.content == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=Grue.txt; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt")


def test_store_dir_keeps_messages_across_restarts(tmp_path, make_mail):
    def post(server, payload):
        return requests.post(f"{server.url}/v3/mail/send", json=payload, timeout=5,
                             headers={"Authorization": "Bearer SG.local-sandbox-key"})

    server = serve(store_dir=tmp_path, api_key="SG.local-sandbox-key")
    try:
        kept = post(server, make_mail(subject="kept")).headers["X-Message-Id"]
    finally:
        server.shutdown()

    server = serve(store_dir=tmp_path, api_key="SG.local-sandbox-key")
    try:
        later = post(server, make_mail(subject="later")).headers["X-Message-Id"]
        messages = requests.get(f"{server.url}/api/messages", timeout=5).json()
        assert [(m["id"], m["subject"]) for m in messages] == [(later, "later"), (kept, "kept")]

        requests.post(f"{server.url}/control/reset", timeout=5).raise_for_status()
        assert list(tmp_path.iterdir()) == []
    finally:
        server.shutdown()


def test_store_dir_skips_unreadable_files(tmp_path, make_mail):
    (tmp_path / "0000000001-broken.json").write_text("{not json")
    record = {"id": "abc", "seq": 7, "received_at": "2030-01-01T00:00:00.000Z",
              "payload": make_mail()}
    (tmp_path / "0000000007-abc.json").write_text(json.dumps(record))

    server = serve(store_dir=tmp_path)
    try:
        messages = requests.get(f"{server.url}/api/messages", timeout=5).json()
    finally:
        server.shutdown()

    assert [m["id"] for m in messages] == ["abc"]


def test_command_line_prints_its_url_and_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "local.mail_sink", "--host", "127.0.0.1", "--port", "0",
         "--api-key", "SG.cli", "--store-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("mail-sink listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert requests.get(f"{url}/api/stats", timeout=5).json()["count"] == 0
        unauthorized = requests.post(f"{url}/v3/mail/send", json={}, timeout=5,
                                     headers={"Authorization": "Bearer SG.local-sandbox-key"})
        assert unauthorized.status_code == 401
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
