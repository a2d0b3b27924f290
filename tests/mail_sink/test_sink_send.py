"""POST /v3/mail/send through the real sendgrid client and as raw HTTP."""

from __future__ import annotations

import base64

import pytest
import requests
from python_http_client.exceptions import PayloadTooLargeError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment, Category, CustomArg, Disposition, FileContent, FileName, FileType, Mail,
    MailSettings, SandBoxMode,
)

from local.mail_sink import create_app

INVITE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nPRODID:-//calbridge//EN\r\n"
    "BEGIN:VEVENT\r\nUID:booking-42@calbridge.test\r\nSUMMARY:Intro call\r\n"
    "DTSTART:20300101T090000Z\r\nDTEND:20300101T093000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode() + bytes(range(256))  # binary tail: the download must not be re-encoded

UNAUTHORIZED_BODY = (
    b'{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked",'
    b'"field":null,"help":null}]}'
)


def booking_mail() -> Mail:
    mail = Mail(
        from_email=("bookings@calbridge.test", "calbridge"),
        to_emails=[("guest@example.com", "Guest")],
        subject="Your booking is confirmed",
        plain_text_content="Intro call on 1 January 2030 at 09:00 UTC.",
        html_content='<p>Intro call. <a href="https://calbridge.test/b/42?a=1&amp;b=2">Go</a></p>',
    )
    mail.attachment = Attachment(
        FileContent(base64.b64encode(INVITE).decode()),
        FileName("invite.ics"),
        FileType("text/calendar; method=REQUEST"),
        Disposition("attachment"),
    )
    mail.custom_arg = CustomArg("booking_id", "42")
    mail.category = Category("booking-confirmation")
    return mail


def test_sendgrid_client_round_trip(sink, sendgrid_client):
    response = sendgrid_client.send(booking_mail())

    assert response.status_code == 202
    assert response.body == b""
    message_id = response.headers["X-Message-Id"]

    message = requests.get(f"{sink.url}/api/messages/{message_id}", timeout=5).json()
    assert message["from"] == "bookings@calbridge.test"
    assert message["to"] == ["guest@example.com"]
    assert message["subject"] == "Your booking is confirmed"
    assert message["custom_args"] == {"booking_id": "42"}
    assert message["categories"] == ["booking-confirmation"]
    assert message["attachments"] == ["invite.ics"]
    assert message["text"] == "Intro call on 1 January 2030 at 09:00 UTC."
    assert message["personalizations"][0]["to"] == [{"email": "guest@example.com", "name": "Guest"}]
    assert message["payload"]["content"][0]["type"] == "text/plain"

    download = requests.get(f"{sink.url}{message['attachment_files'][0]['url']}", timeout=5)
    assert download.status_code == 200
    assert download.content == INVITE
    assert download.headers["Content-Type"] == "text/calendar; method=REQUEST"
    assert download.headers["Content-Disposition"] == "attachment; filename=invite.ics"

    html = requests.get(f"{sink.url}/api/messages/{message_id}/html", timeout=5)
    assert html.headers["Content-Type"].startswith("text/html")
    assert html.text == message["html"] == booking_mail().get()["content"][1]["value"]


def test_wrong_key_is_unauthorized(sink):
    client = SendGridAPIClient("SG.wrong", host=sink.url)

    with pytest.raises(UnauthorizedError) as caught:
        client.send(booking_mail())

    assert caught.value.status_code == 401
    assert caught.value.body == UNAUTHORIZED_BODY
    assert requests.get(f"{sink.url}/api/stats", timeout=5).json()["count"] == 0


def test_missing_authorization_is_unauthorized(sink, make_mail):
    response = requests.post(f"{sink.url}/v3/mail/send", json=make_mail(), timeout=5)

    assert response.status_code == 401
    assert response.content == UNAUTHORIZED_BODY


def test_api_key_from_environment(monkeypatch, make_mail):
    monkeypatch.setenv("MAIL_SINK_API_KEY", "SG.from-env")
    client = create_app().test_client()

    def send(key):
        return client.post("/v3/mail/send", json=make_mail(),
                           headers={"Authorization": f"Bearer {key}"}).status_code

    assert send("SG.from-env") == 202
    assert send("SG.local-sandbox-key") == 401


def test_default_api_key(monkeypatch, make_mail):
    monkeypatch.delenv("MAIL_SINK_API_KEY", raising=False)
    client = create_app().test_client()

    response = client.post("/v3/mail/send", json=make_mail(),
                           headers={"Authorization": "Bearer SG.local-sandbox-key"})

    assert response.status_code == 202


def _recipients(n):
    return [{"email": f"guest{i}@example.com"} for i in range(n)]


def _set(path, value):
    """A mutation of the minimal payload: sets `path` (keys and list indexes) to `value`."""

    def mutate(payload):
        *parents, last = path
        target = payload
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _drop(key):
    return lambda payload: payload.pop(key)


INVALID = {
    "no personalizations": (_drop("personalizations"), "personalizations",
                            "The personalizations field is required"),
    "empty personalizations": (_set(["personalizations"], []), "personalizations",
                               "at least one personalization"),
    "too many personalizations": (
        _set(["personalizations"], [{"to": [{"email": f"g{i}@example.com"}]} for i in range(1001)]),
        "personalizations", "limited to 1000 personalizations"),
    "no to": (_set(["personalizations", 0], {"cc": [{"email": "cc@example.com"}]}),
              "personalizations.0.to", "The to array is required"),
    "bad to email": (_set(["personalizations", 0, "to", 0, "email"], "guest@"),
                     "personalizations.0.to.0.email", "Does not contain a valid address."),
    "bad cc email": (_set(["personalizations", 0, "cc"], [{"email": "not an address"}]),
                     "personalizations.0.cc.0.email", "Does not contain a valid address."),
    "name with comma": (_set(["personalizations", 0, "to", 0, "name"], "Doe, Jane"),
                        "personalizations.0.to.0.name", "may not contain ';' or ','"),
    "duplicate recipient": (
        _set(["personalizations", 0, "bcc"], [{"email": "GUEST@example.com"}]),
        "personalizations.0", "should be unique between to, cc, and bcc"),
    "too many recipients": (_set(["personalizations", 0, "to"], _recipients(1001)),
                            "personalizations", "limit of 1000 total recipients"),
    "no from": (_drop("from"), "from.email", "The from object must be provided"),
    "bad from": (_set(["from", "email"], "bookings.calbridge.test"), "from.email",
                 "The from email does not contain a valid address."),
    "no subject": (_drop("subject"), "subject", "The subject is required."),
    "no content": (_drop("content"), "content", "the content parameter is required"),
    "empty content value": (_set(["content", 0, "value"], ""), "content.0.value",
                            "at least one character"),
    "html before plain": (
        _set(["content"], [{"type": "text/html", "value": "<p>x</p>"},
                           {"type": "text/plain", "value": "x"}]),
        "content", "text/plain content must be first"),
    "content type with parameters": (_set(["content", 0, "type"], "text/plain; charset=utf-8"),
                                     "content.0.type", "cannot contain ';'"),
    "reply_to and reply_to_list": (
        lambda p: p.update(reply_to={"email": "a@example.com"},
                           reply_to_list=[{"email": "b@example.com"}]),
        "reply_to_list", "mutually exclusive"),
    "attachment not base64": (
        _set(["attachments"], [{"content": "not base64!", "filename": "a.txt"}]),
        "attachments.0.content", "The attachment content must be base64 encoded."),
    "attachment without content": (
        _set(["attachments"], [{"filename": "a.txt"}]),
        "attachments.0.content", "The attachment content is required."),
    "attachment without filename": (
        _set(["attachments"], [{"content": "aGk="}]),
        "attachments.0.filename", "The attachment filename is required."),
    "inline attachment without content_id": (
        _set(["attachments"], [{"content": "aGk=", "filename": "a.png", "disposition": "inline"}]),
        "attachments.0.content_id", "content_id parameter is required"),
    "attachment type with charset": (
        _set(["attachments"], [{"content": "aGk=", "filename": "invite.ics",
                                "type": "text/calendar; charset=utf-8; method=REQUEST"}]),
        "attachments.0.type", "The attachment type cannot contain ';', or CRLF characters."),
    "bad disposition": (
        _set(["attachments"], [{"content": "aGk=", "filename": "a.txt", "disposition": "x"}]),
        "attachments.0.disposition", "inline"),
    "eleven categories": (_set(["categories"], [f"c{i}" for i in range(11)]), "categories",
                          "more than 10 categories"),
    "custom_args too large": (_set(["custom_args"], {"blob": "x" * 10_000}), "custom_args",
                              "10,000 bytes"),
    "custom_args not an object": (_set(["custom_args"], "booking=42"), "custom_args",
                                  "Invalid type. Expected: object, given: string."),
    "custom_arg not a string": (_set(["custom_args"], {"booking_id": 42}),
                                "custom_args.booking_id",
                                "Invalid type. Expected: string, given: integer."),
    "reserved header": (_set(["headers"], {"Reply-To": "x@example.com"}), "headers", "Reply-To"),
    "reserved personalization header": (
        _set(["personalizations", 0, "headers"], {"x-sg-id": "1"}),
        "personalizations.0.headers", "x-sg-id"),
}


@pytest.mark.parametrize("mutate, field, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_payload_is_rejected_with_its_field(sink, post_mail, make_mail, mutate, field,
                                                    message):
    payload = make_mail()
    mutate(payload)

    response = post_mail(payload)

    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors
    assert all(set(e) == {"message", "field", "help"} for e in errors)
    assert requests.get(f"{sink.url}/api/stats", timeout=5).json()["count"] == 0


def test_error_help_links_to_sendgrid_docs(post_mail, make_mail):
    payload = make_mail()
    payload["personalizations"][0]["to"][0]["email"] = "nope"

    (error,) = post_mail(payload).json()["errors"]

    assert error == {
        "message": "Does not contain a valid address.",
        "field": "personalizations.0.to.0.email",
        "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
                "#message.personalizations.to",
    }


def test_every_problem_is_reported(post_mail, make_mail):
    response = post_mail(make_mail(subject=None, content=None, **{"from": {"email": "x"}}))

    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["from.email", "subject", "content"]


@pytest.mark.parametrize("body", ["not json", "{\"personalizations\": [", "[1, 2]", ""])
def test_non_object_body_is_bad_request(post_mail, body):
    response = post_mail(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] in (
        "Bad Request", "Invalid type. Expected: object, given: array.")


VALID = {
    "subject in every personalization": lambda p: (
        p.pop("subject"), p["personalizations"][0].update(subject="Hi")),
    "template instead of subject and content": lambda p: (
        p.pop("subject"), p.pop("content"), p.update(template_id="d-123")),
    "quoted name with comma": _set(["personalizations", 0, "to", 0, "name"], '"Doe, Jane"'),
    "inline attachment with content_id": _set(["attachments"], [
        {"content": "aGk=", "filename": "logo.png", "type": "image/png",
         "disposition": "inline", "content_id": "logo"}]),
    "calendar method on attachment": _set(["attachments"], [
        {"content": "aGk=", "filename": "invite.ics", "type": "text/calendar;method=CANCEL"}]),
    "html only": _set(["content"], [{"type": "text/html", "value": "<p>x</p>"}]),
    "plain, html, then other": _set(["content"], [
        {"type": "text/plain", "value": "x"}, {"type": "text/html", "value": "<p>x</p>"},
        {"type": "text/x-amp-html", "value": "<p>x</p>"}]),
    "reply_to_list": _set(["reply_to_list"], [{"email": "a@example.com"},
                                              {"email": "b@example.com"}]),
    "1000 recipients": _set(["personalizations", 0, "to"], _recipients(1000)),
    "same address in two personalizations": _set(["personalizations"], [
        {"to": [{"email": "guest@example.com"}]}, {"to": [{"email": "guest@example.com"}]}]),
}


@pytest.mark.parametrize("mutate", VALID.values(), ids=VALID.keys())
def test_valid_payload_is_accepted(post_mail, make_mail, mutate):
    payload = make_mail()
    mutate(payload)

    response = post_mail(payload)

    assert response.status_code == 202, response.text
    assert response.headers["X-Message-Id"]


def test_sandbox_mode_validates_but_stores_nothing(sink, post_mail, make_mail):
    sandboxed = {"mail_settings": {"sandbox_mode": {"enable": True}}}

    accepted = post_mail(make_mail(**sandboxed))
    rejected = post_mail(make_mail(subject=None, **sandboxed))

    assert accepted.status_code == 200
    assert accepted.content == b""
    assert "X-Message-Id" not in accepted.headers
    assert rejected.status_code == 400
    assert requests.get(f"{sink.url}/api/messages", timeout=5).json() == []


def test_sandbox_mode_through_the_client(sink, sendgrid_client):
    mail = booking_mail()
    mail.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))

    assert sendgrid_client.send(mail).status_code == 200
    assert requests.get(f"{sink.url}/api/stats", timeout=5).json()["count"] == 0


def test_payload_over_30_mb_is_too_large(sink, sendgrid_client):
    mail = booking_mail()
    mail.attachment = Attachment(FileContent("A" * (30 * 1024 * 1024)), FileName("big.bin"))

    with pytest.raises(PayloadTooLargeError) as caught:
        sendgrid_client.send(mail)

    assert caught.value.status_code == 413
    assert requests.get(f"{sink.url}/api/stats", timeout=5).json()["count"] == 0


def test_wrong_method_and_unknown_path_answer_json(sink):
    wrong_method = requests.get(f"{sink.url}/v3/mail/send", timeout=5)
    unknown = requests.post(f"{sink.url}/v3/nothing", timeout=5)

    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.json()["errors"][0]["message"] == "Method Not Allowed"
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": [{"message": "Not Found", "field": None, "help": None}]}
