"""Notification emails: which emails a booking change causes, and sending each one exactly once.

Nothing is sent from inside the request that changed a booking, and little is done there:
`booking_changed` enqueues one Cloud Tasks task (POST {notify}/tasks/booking-changed), and the
notify function fans it out (`fan_out`): one task per email (POST {notify}/tasks/email) and the
booking's reminders. Each email task then renders and sends one email (`send`). Each task
carries an idempotency key (booking, kind, sequence[, recipient]) that names the task and keys
the send ledger (shared/services/email_sends.py), so calling `booking_changed` again, a task
delivered twice and a retry after a failure all end in one email.

A task carries a snapshot of the booking as it was when it changed, so a confirmation delayed
by retries still shows the time that was confirmed, even if the booking moved in between.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared import errors
from shared.adapters import tasks
from shared.adapters.firestore import Changed, db, update_unchanged
from shared.config import settings
from shared.domain.timeranges import YEARS, within_years
from shared.logs import get_logger
from shared.services import email_sends, emails, members

logger = get_logger("notifications")

CHANGE_KINDS = (emails.CONFIRMED, emails.RESCHEDULED, emails.CANCELLED, emails.GUEST_DECLINED)
EMAIL_TASK_PATH = "/tasks/email"
CHANGE_TASK_PATH = "/tasks/booking-changed"
EVENT_TYPES = "event_types"
BOOKINGS = "bookings"


def _within_years(value: datetime) -> datetime:
    if not within_years(value):
        raise ValueError(f"must be in the years {YEARS[0]} to {YEARS[1]}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_within_years)]


class Recipient(BaseModel):
    name: str = Field("", max_length=300)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    # Missing values fall back when rendering (shared/services/emails.person).
    language: str | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        # A zone that cannot be loaded falls back like a missing one, so the email still goes.
        try:
            return members.validate_timezone(value) if value else None
        except errors.InvalidInput:
            return None


class Period(BaseModel):
    start: Instant
    end: Instant


class BookingSnapshot(BaseModel):
    """The fields emails read; the rest of the booking document rides along unvalidated."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    start: Instant
    end: Instant
    sequence: int = 0
    organizer: Recipient
    guest: Recipient
    previous: Period | None = None


class EmailTask(BaseModel):
    """The body of a POST /tasks/email task: one email to one recipient."""

    key: str = Field(min_length=1, max_length=500)
    kind: Literal["confirmed", "rescheduled", "cancelled", "guest_declined", "reminder",
                  "followup", "reconnect_needed"]
    role: Literal["organizer", "guest", "owner"]
    to: Recipient
    booking: BookingSnapshot | None = None
    data: dict = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _minutes(cls, value: dict) -> dict:
        from shared.services.reminders import MAX_OFFSET_MINUTES

        minutes = value.get("minutes", 0)
        if not isinstance(minutes, int) or not 0 <= minutes <= MAX_OFFSET_MINUTES:
            raise ValueError(f"minutes must be a whole number from 0 to {MAX_OFFSET_MINUTES}")
        return value


class ChangeTask(BaseModel):
    """The body of a POST /tasks/booking-changed task: one booking change to fan out."""

    kind: Literal["confirmed", "rescheduled", "cancelled", "guest_declined"]
    booking: BookingSnapshot


def email_key(booking: dict, kind: str, role: str) -> str:
    return f"booking:{booking['id']}:{kind}:{int(booking.get('sequence') or 0)}:{role}"


def booking_changed(booking: dict, kind: str) -> None:
    """Enqueue the emails of a booking change and (re)schedule its reminders.

    Safe to call again after a failure: every task is keyed, so nothing is sent twice. Raises
    when Cloud Tasks cannot be reached, so the caller can retry.
    """
    if kind not in CHANGE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CHANGE_KINDS)}, not {kind!r}")
    snapshot = booking_snapshot(booking)
    cfg = settings()
    key = f"booking:{snapshot['id']}:{kind}:{int(snapshot.get('sequence') or 0)}"
    tasks.enqueue(cfg.email_queue, cfg.notify_url + CHANGE_TASK_PATH,
                  {"kind": kind, "booking": snapshot}, key=key)


def remember_unsent(booking: dict, kind: str) -> None:
    """Cloud Tasks could not take a change (after the adapter's retries): keep it on the booking
    so `replay_unsent` (the hourly sweep) queues it later instead of losing its emails."""
    db().collection(BOOKINGS).document(booking["id"]).update({
        "unsent_change": {"kind": kind, "sequence": int(booking.get("sequence") or 0)}})


def replay_unsent() -> int:
    """Queue the changes `remember_unsent` kept. A change that a later one superseded is dropped:
    the later change's emails (which did go out) carry the booking as it is now."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    replayed = 0
    query = db().collection(BOOKINGS).where(
        filter=FieldFilter("unsent_change.sequence", ">=", 0))
    for snap in query.stream():
        booking = {**snap.to_dict(), "id": snap.id}
        change = booking["unsent_change"]
        if change["sequence"] == int(booking.get("sequence") or 0):
            booking_changed(booking, change["kind"])
            replayed += 1
        try:
            update_unchanged(snap.reference, {"unsent_change": firestore.DELETE_FIELD},
                             snap.update_time)
        except Changed:
            pass  # changed meanwhile: the next sweep looks again; the task keys prevent repeats
    return replayed


def fan_out(change: ChangeTask) -> int:
    """The notify side of `booking_changed`: enqueue its emails and (re)schedule reminders.

    Reminders follow the stored booking, and only while it is still at this change's sequence:
    a later change schedules its own, and reminder tasks of earlier sequences do nothing.
    """
    from shared.services import reminders

    snapshot = change.booking.model_dump(mode="json")
    roles = emails.RECIPIENTS[change.kind]
    for role in roles:
        enqueue(email_task(snapshot, change.kind, role,
                           key=email_key(snapshot, change.kind, role)))
    if change.kind in (emails.CONFIRMED, emails.RESCHEDULED):
        snap = db().collection(BOOKINGS).document(change.booking.id).get()
        current = {**(snap.to_dict() or {}), "id": change.booking.id}
        if snap.exists and int(current.get("sequence") or 0) == change.booking.sequence:
            reminders.schedule(current)
    return len(roles)


def send_reconnect_needed(google_account_id: str) -> None:
    """Enqueue the one email telling the account owner to reconnect a Google account.

    Keyed by (Google account, connected_at): repeated calls for the same broken connection send
    one email, and a later break after reconnecting sends a new one.
    """
    from shared.services import google_accounts, members

    ga = google_accounts.get(google_account_id)
    owner = members.account_owner(ga.account_id)
    account = members.get_account(ga.account_id)
    connected_at = ga.connected_at.isoformat() if ga.connected_at else "never"
    to = Recipient(name=owner.name, email=owner.email, language=owner.language,
                   timezone=account.get("timezone") or "UTC")
    enqueue(EmailTask(
        key=f"reconnect:{google_account_id}:{connected_at}",
        kind=emails.RECONNECT_NEEDED,
        role=emails.OWNER,
        to=to,
        data={"google_email": ga.email, "google_account_id": google_account_id,
              "reconnect_url": f"{settings().oauth_url}/integrations"},
    ))


def booking_snapshot(booking: dict) -> dict:
    """The booking as JSON-ready data, with the event type's title the emails show."""
    data = json.loads(json.dumps(booking, default=_json_value))
    if not data.get("title"):
        data["title"] = _event_type_title(booking.get("event_type_id"))
    return data


def email_task(snapshot: dict, kind: str, role: str, *, key: str, data: dict | None = None,
               ) -> EmailTask:
    booking = BookingSnapshot.model_validate(snapshot)
    to = Recipient(**asdict(emails.recipient(snapshot, role)))
    return EmailTask(key=key, kind=kind, role=role, to=to, booking=booking, data=data or {})


def enqueue(task: EmailTask) -> None:
    cfg = settings()
    tasks.enqueue(cfg.email_queue, cfg.notify_url + EMAIL_TASK_PATH,
                  task.model_dump(mode="json"), key=task.key)


def parse_task(body: dict) -> EmailTask:
    from shared.web.http import parse_model

    return parse_model(EmailTask, body)


def parse_change(body: dict) -> ChangeTask:
    from shared.web.http import parse_model

    return parse_model(ChangeTask, body)


def send(task: EmailTask) -> str:
    """Render and send one email unless it was already sent: "sent", "duplicate" or "failed".

    Raises UpstreamUnavailable when the send may succeed later (the task is then retried).
    """
    booking = task.booking.model_dump() if task.booking else None
    if task.kind in emails.BOOKING_KINDS and booking is None:
        raise errors.InvalidInput(f"a {task.kind} email needs the booking")
    to = emails.person(task.to.model_dump())
    send_id = email_sends.send_id(task.key)
    email = emails.render_email(
        task.kind, task.role, to, booking=booking, data=task.data,
        custom_args={"send_id": send_id, "kind": task.kind, "role": task.role,
                     **({"booking_id": booking["id"], "sequence": str(booking.get("sequence", 0))}
                        if booking else {})},
    )
    return email_sends.deliver(task.key, email, {
        "booking_id": booking["id"] if booking else None,
        "kind": task.kind,
        "sequence": booking.get("sequence", 0) if booking else None,
        "role": task.role,
        "recipient": to.email,
    })


def _event_type_title(event_type_id: str | None) -> str:
    if not event_type_id:
        return ""
    snap = db().collection(EVENT_TYPES).document(event_type_id).get()
    return (snap.to_dict() or {}).get("title", "") if snap.exists else ""


def _json_value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
