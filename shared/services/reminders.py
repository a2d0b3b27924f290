"""Reminder emails before a booking and the follow-up after it, as scheduled Cloud Tasks.

Offsets follow Google Calendar: the booking's reminder overrides (stored on the booking at
creation as `reminders`), or else the default reminders of the calendar the event is in. The
guest gets one reminder email per offset; organizer and guest get a follow-up at the end.

Each is a task scheduled for its time (POST {notify}/tasks/reminder) naming the booking and its
sequence; when it fires it reads the booking and does nothing if the booking was rescheduled or
cancelled since (sequence or status changed), so old tasks never need deleting.

Cloud Tasks refuses schedule times more than 30 days ahead, so only what falls within WINDOW is
enqueued when the booking changes; an hourly sweep (Cloud Scheduler → /tasks/reminder-sweep)
enqueues the rest as it enters the window. `reminder_tasks` records what was enqueued, so the
sweep skips it, and the task names and email keys are the same either way, so a sweep racing
the original scheduling still sends one email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import errors
from shared.adapters import tasks
from shared.adapters.firestore import db, read
from shared.config import settings
from shared.logs import get_logger, log
from shared.services import emails

logger = get_logger("reminders")

BOOKINGS = "bookings"
REMINDER_TASKS = "reminder_tasks"
REMINDER_TASK_PATH = "/tasks/reminder"
# Under the 30-day limit, with a day to spare for clock skew and a late sweep.
WINDOW = timedelta(days=29)
# Google Calendar allows reminders up to four weeks before an event.
MAX_OFFSET_MINUTES = 40320
CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Due:
    """One scheduled email job of a booking: a reminder `minutes` before, or the follow-up."""

    booking_id: str
    sequence: int
    kind: str  # emails.REMINDER or emails.FOLLOWUP
    minutes: int
    at: datetime

    @property
    def key(self) -> str:
        what = f"{self.kind}-{self.minutes}" if self.kind == emails.REMINDER else self.kind
        return f"booking:{self.booking_id}:{what}:{self.sequence}"

    def payload(self) -> dict:
        return {"booking_id": self.booking_id, "sequence": self.sequence, "kind": self.kind,
                "minutes": self.minutes}


class ReminderTask(BaseModel):
    """The body of POST /tasks/reminder (Due.payload); anything else is a malformed task."""

    model_config = ConfigDict(strict=True)

    booking_id: str = Field(min_length=1, max_length=200)
    sequence: int = Field(ge=0)
    kind: Literal["reminder", "followup"]
    minutes: int = Field(0, ge=0, le=MAX_OFFSET_MINUTES)


def offsets(booking: dict) -> list[int]:
    """Minutes before the start, largest first; the calendar's defaults when the booking has none."""
    reminders = booking.get("reminders")
    if reminders is None:
        reminders = _calendar_default_reminders(booking)
    found = set()
    for reminder in reminders or ():
        try:
            minutes = int(reminder.get("minutes"))
        except (TypeError, ValueError, AttributeError):
            continue
        if 0 <= minutes <= MAX_OFFSET_MINUTES:
            found.add(minutes)
    return sorted(found, reverse=True)


def due(booking: dict) -> list[Due]:
    booking_id, sequence = booking["id"], int(booking.get("sequence") or 0)
    start, end = booking["start"], booking["end"]
    items = [Due(booking_id, sequence, emails.REMINDER, m, start - timedelta(minutes=m))
             for m in offsets(booking)]
    items.append(Due(booking_id, sequence, emails.FOLLOWUP, 0, end))
    return items


def schedule(booking: dict, now: datetime | None = None) -> int:
    """Enqueue the booking's reminder and follow-up tasks that fall within WINDOW."""
    if booking.get("status", CONFIRMED) != CONFIRMED:
        return 0
    now = now or datetime.now(timezone.utc)
    return _enqueue([d for d in due(booking) if now < d.at <= now + WINDOW])


def sweep(now: datetime | None = None) -> int:
    """Enqueue every reminder that entered the window and was not enqueued yet (hourly job)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or datetime.now(timezone.utc)
    horizon = now + WINDOW
    query = (db().collection(BOOKINGS)
             .where(filter=FieldFilter("start", ">", now - timedelta(days=1)))
             .where(filter=FieldFilter("start", "<=",
                                       horizon + timedelta(minutes=MAX_OFFSET_MINUTES))))
    candidates: list[Due] = []
    for snap in query.stream():
        booking = {**snap.to_dict(), "id": snap.id}
        if booking.get("status") != CONFIRMED:
            continue
        candidates += [d for d in due(booking) if now < d.at <= horizon]
    refs = [db().collection(REMINDER_TASKS).document(tasks.task_id_for(d.key))
            for d in candidates]
    done = {snap.id for snap in db().get_all(refs) if snap.exists} if refs else set()
    enqueued = _enqueue([d for d in candidates if tasks.task_id_for(d.key) not in done])
    log(logger, logging.INFO, "reminder sweep", candidates=len(candidates), enqueued=enqueued)
    return enqueued


def _enqueue(items: list[Due]) -> int:
    cfg = settings()
    for item in items:
        tasks.enqueue(cfg.email_queue, cfg.notify_url + REMINDER_TASK_PATH, item.payload(),
                      key=item.key, schedule_at=item.at)
    if items:
        batch = db().batch()
        for item in items:
            batch.set(db().collection(REMINDER_TASKS).document(tasks.task_id_for(item.key)), {
                "booking_id": item.booking_id, "sequence": item.sequence, "kind": item.kind,
                "minutes": item.minutes, "due_at": item.at, "enqueued_at": datetime.now(timezone.utc),
                # For a Firestore TTL policy: the record is useless once its task has run.
                "expires_at": item.at + timedelta(days=2),
            })
        batch.commit()
    return len(items)


def fire(booking_id: str, sequence: int, kind: str, minutes: int) -> str:
    """A reminder task's time has come: send its emails unless the booking changed since.

    Returns "sent", "stale" or "late"; raises UpstreamUnavailable if a send must be retried.
    """
    from shared.services import notifications

    snap = read(BOOKINGS, booking_id)
    booking = {**(snap.to_dict() or {}), "id": booking_id}
    if not snap.exists or booking.get("status") != CONFIRMED or \
            int(booking.get("sequence") or 0) != sequence:
        return "stale"
    if kind == emails.REMINDER and datetime.now(timezone.utc) >= booking["start"]:
        return "late"
    item = Due(booking_id, sequence, kind, minutes, booking["start"])
    snapshot = notifications.booking_snapshot(booking)
    retry: errors.UpstreamUnavailable | None = None
    for role in emails.RECIPIENTS[kind]:
        task = notifications.email_task(snapshot, kind, role, key=f"{item.key}:{role}",
                                        data={"minutes": minutes})
        try:
            notifications.send(task)
        except errors.UpstreamUnavailable as exc:
            retry = exc  # try the other recipient now; the task's retry resends only this one
    if retry is not None:
        raise retry
    return "sent"


def _calendar_default_reminders(booking: dict) -> list[dict]:
    from shared.services import google_accounts

    google = booking.get("google") or {}
    if not google.get("google_account_id") or not google.get("calendar_id"):
        return []
    try:
        calendar = google_accounts.calendar(google["google_account_id"], google["calendar_id"])
    except errors.NotFound:
        return []
    return calendar.get("default_reminders") or []
