"""SendGrid v3 mail send: one client per process, every failure classified as retryable or not.

SendGrid has no idempotency key, so this adapter sends exactly what it is given, once per call;
exactly-once delivery is the caller's job (shared/services/email_sends.py). The host comes from
settings, so the local stack points the same code at the mail sink.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass, field

from shared import secrets
from shared.config import settings

TIMEOUT_SECONDS = 10
# SendGrid rejects `;` and `,` in display names, and a line break must never reach a header.
_NAME_UNSAFE = re.compile(r"[;,\r\n]+")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    type: str


@dataclass(frozen=True)
class Email:
    to_email: str
    to_name: str
    subject: str
    text: str
    html: str
    reply_to_email: str | None = None
    reply_to_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # Shown by SendGrid's event webhook and the mail sink's filters; values must be strings.
    custom_args: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()


class MailError(Exception):
    """A send failed. `retryable` is True when trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


def _name(value: str | None) -> str:
    return " ".join(_NAME_UNSAFE.sub(" ", value or "").split())


def payload(email: Email) -> dict:
    """The v3 request body; text/plain comes before text/html as SendGrid requires."""
    cfg = settings()
    body: dict = {
        "personalizations": [{
            "to": [{"email": email.to_email, **({"name": _name(email.to_name)}
                                                 if _name(email.to_name) else {})}],
            "custom_args": dict(email.custom_args),
        }],
        "from": {"email": cfg.mail_from, "name": _name(cfg.mail_from_name)},
        "subject": " ".join(email.subject.split()),
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
    }
    if email.reply_to_email:
        body["reply_to"] = {"email": email.reply_to_email}
        if _name(email.reply_to_name):
            body["reply_to"]["name"] = _name(email.reply_to_name)
    if email.attachments:
        body["attachments"] = [
            {
                "content": base64.b64encode(a.content).decode("ascii"),
                "filename": a.filename,
                "type": a.type,
                "disposition": "attachment",
            }
            for a in email.attachments
        ]
    if email.categories:
        body["categories"] = list(email.categories)
    return body


@functools.cache
def _client():
    import sendgrid

    client = sendgrid.SendGridAPIClient(
        api_key=secrets.get(secrets.SENDGRID_API_KEY), host=settings().sendgrid_host
    )
    # python_http_client has no default timeout; a hung send would hold the task forever.
    client.client.timeout = TIMEOUT_SECONDS
    return client


def send(email: Email) -> str | None:
    """Send one email; returns SendGrid's message id. Raises MailError."""
    from urllib.error import URLError

    from python_http_client.exceptions import HTTPError

    try:
        response = _client().send(payload(email))
    except HTTPError as exc:
        status = exc.status_code
        retryable = status >= 500 or status == 429
        detail = (exc.body or b"")[:300].decode("utf-8", "replace")
        raise MailError(f"SendGrid answered {status}: {detail}", retryable=retryable,
                        status=status) from None
    except (URLError, OSError) as exc:  # timeouts and refused connections
        raise MailError(f"SendGrid unreachable: {exc}", retryable=True) from None
    headers = response.headers
    return headers.get("X-Message-Id") if headers is not None else None
