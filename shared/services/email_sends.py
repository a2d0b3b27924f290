"""The send ledger: each email goes out once although its task may arrive any number of times.

Cloud Tasks delivers at least once, its name dedup lasts hours at most (and the local emulator
has none), and SendGrid has no idempotency key. So every send is recorded in `email_sends`,
keyed by the hash of the email's idempotency key, and moves through:

    (none) --claim--> sending --202--> sent
                         |  \\--4xx--> failed          (permanent: never retried)
                         \\--5xx/429/timeout--> retry   (released: the next delivery claims it)

The claim is a Firestore transaction, so of two concurrent deliveries one sends and the other
finds "sending" and answers 503 (try later). A claim holds a lease longer than a send can take
(the mail adapter's timeout), so a delivery that died mid-send is taken over once it expires.
The one gap left is a process dying between SendGrid's 202 and the "sent" write; the lease then
lets a later delivery send again, which is the price of not losing the email instead.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone

from shared import errors
from shared.adapters import mail
from shared.adapters.firestore import db, transactional
from shared.logs import get_logger, log

logger = get_logger("email_sends")

EMAIL_SENDS = "email_sends"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
RETRY = "retry"
DUPLICATE = "duplicate"
LEASE = timedelta(seconds=6 * mail.TIMEOUT_SECONDS)
# Cloud Tasks keeps a task at most 31 days, so no delivery of it can arrive after this; the TTL
# policy on expires_at (infra/firestore.tf) then deletes the record.
RETENTION = timedelta(days=35)


def send_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def deliver(key: str, email: mail.Email, record: dict) -> str:
    """Send `email` once for `key`: returns "sent", "duplicate" or "failed" (permanently).

    Raises UpstreamUnavailable when the send may succeed later or another delivery holds it.
    `record` (booking_id, kind, sequence, role, recipient) is stored with the send.
    """
    ref = db().collection(EMAIL_SENDS).document(send_id(key))
    claimed = _claim(ref, key, record)
    if claimed in (SENT, FAILED):
        return DUPLICATE
    if claimed != SENDING:
        raise errors.UpstreamUnavailable("another delivery of this email is in progress",
                                         code="send_in_progress")
    try:
        message_id = mail.send(email)
    except mail.MailError as exc:
        if exc.retryable:
            ref.update({"status": RETRY, "lease_until": None, "last_error": str(exc)})
            log(logger, logging.WARNING, "email send failed, will retry", send_id=ref.id,
                kind=record.get("kind"), status=exc.status)
            raise errors.UpstreamUnavailable("the mail service failed; retry later",
                                             code="mail_unavailable") from None
        ref.update({"status": FAILED, "lease_until": None, "last_error": str(exc),
                    "failed_at": _now()})
        log(logger, logging.ERROR, "email rejected, not retrying", send_id=ref.id,
            kind=record.get("kind"), status=exc.status)
        return FAILED
    except Exception:
        ref.update({"status": RETRY, "lease_until": None})
        raise
    ref.update({"status": SENT, "lease_until": None, "sent_at": _now(),
                "message_id": message_id})
    log(logger, logging.INFO, "email sent", send_id=ref.id, kind=record.get("kind"),
        booking_id=record.get("booking_id"))
    return SENT


def _claim(ref, key: str, record: dict) -> str:
    """SENDING when this delivery may send; SENT/FAILED when done before; "busy" otherwise."""
    from google.api_core import exceptions

    now = _now()
    try:
        # The first delivery, by far the common case: one create, which fails if any other
        # delivery got there first; only then is the record read in a transaction.
        ref.create({**record, "key": key, "status": SENDING, "attempts": 1,
                    "lease_until": now + LEASE, "created_at": now, "expires_at": now + RETENTION})
        return SENDING
    except exceptions.AlreadyExists:
        pass

    @transactional
    def claim(transaction) -> str:
        now = _now()
        snap = ref.get(transaction=transaction)
        data = snap.to_dict()
        if data["status"] in (SENT, FAILED):
            return data["status"]
        if data["status"] == SENDING and data.get("lease_until") and data["lease_until"] > now:
            return "busy"
        transaction.update(ref, {"status": SENDING, "attempts": data.get("attempts", 0) + 1,
                                 "lease_until": now + LEASE})
        return SENDING

    return claim(db().transaction())


def get(key: str) -> dict | None:
    snap = db().collection(EMAIL_SENDS).document(send_id(key)).get()
    return snap.to_dict() if snap.exists else None


def _now() -> datetime:
    return datetime.now(timezone.utc)
