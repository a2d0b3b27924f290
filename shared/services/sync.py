"""Incremental sync of one watched Google calendar: Google's changes reach bookings and the busy
cache.

Each watched calendar has a `sync_state/{google_account_id}_{sha1(calendar_id)}` document: the
sync token, the cached busy intervals (shared/services/busy_cache.py), whether the copy is in
sync, the channel that keeps it so (written by shared/services/channels.py) and a counter of
notifications received (bumped by the webhook), so a lookup can tell the copy is behind.

One sync at a time per calendar: a sync takes a lease in that document; a sync that finds the
lease taken returns at once, and the holder goes round again before letting go if a
notification came in after its round began, which coalesces a burst of notifications into one
or two events.list calls. The sync token is stored only after every
change in it was applied, so a failure (the task is retried) never skips a change.

Changes to events that carry our booking id (extendedProperties.private.bookingId) become
booking changes with origin "google" (shared/services/bookings.py): moved -> rescheduled,
deleted or cancelled -> cancelled, guest declined -> organizer told. calbridge's own writes come
back here too; they are recognised by the etag stored on the booking, or because the booking
already says what the event says, and cause nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field

from shared import errors
from shared.adapters import tasks
from shared.adapters.firestore import db, transactional
from shared.adapters.google_calendar import GoogleApiError
from shared.config import settings
from shared.logs import get_logger, log
from shared.services import busy_cache, google_accounts

logger = get_logger("sync")

SYNC_STATE = "sync_state"
BOOKINGS = "bookings"
DECLINES = "declines"
GOOGLE = "google"
BOOKING_ID_KEY = "bookingId"
# A full sync starts a day back so events in progress are known.
FULL_SYNC_LOOKBACK = timedelta(days=1)
LEASE = timedelta(minutes=2)
PAGE_SIZE = 250
# 403s that mean "slow down", not "no access": the task is retried (Google's errors guide).
RATE_LIMITED = ("rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded")
# The same list parameters for the full and the incremental requests (Google requires it).
LIST_PARAMS = {"showDeleted": True, "singleEvents": True, "maxResults": PAGE_SIZE}


def state_id(google_account_id: str, calendar_id: str) -> str:
    return f"{google_account_id}_{google_accounts.calendar_key(calendar_id)}"


def state_ref(google_account_id: str, calendar_id: str):
    return db().collection(SYNC_STATE).document(state_id(google_account_id, calendar_id))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def enqueue(google_account_id: str, calendar_id: str, *, key: str | None = None,
            push: bool = False) -> str | None:
    """Ask the webhook function (POST /tasks/sync) to sync a calendar soon; `push` when a
    notification asks (its sync is skipped if a later one already covered it)."""
    cfg = settings()
    payload = {"google_account_id": google_account_id, "calendar_id": calendar_id}
    if push:
        payload["push"] = True
    return tasks.enqueue(cfg.sync_queue, f"{cfg.webhook_url}/tasks/sync", payload, key=key)


class SyncTask(BaseModel):
    # No "/": the id is part of the sync state's document id.
    google_account_id: str = Field(min_length=1, max_length=300, pattern=r"^[^/]+$")
    calendar_id: str = Field(min_length=1, max_length=1024)
    push: bool = False


@dataclass
class SyncResult:
    status: str  # synced | up_to_date | coalesced | reconnect_needed | unreadable | not_connected
    full: bool = False
    changes: int = 0
    booking_changes: int = 0
    list_calls: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def sync_calendar(google_account_id: str, calendar_id: str, *, push: bool = False) -> SyncResult:
    """Bring the calendar's bookings and busy cache up to date with Google. For a `push`
    (a notification already counted), nothing is done when a sync that began after every
    counted notification has finished: a burst's later tasks cost no Google call."""
    ref = state_ref(google_account_id, calendar_id)
    if push:
        state = ref.get().to_dict() or {}
        if state.get("in_sync") and state.get("notifications", 0) <= state.get(
                "synced_notifications", 0):
            return SyncResult("up_to_date")
    holder = uuid.uuid4().hex
    if not _acquire(ref, holder):
        return SyncResult("coalesced")
    total = SyncResult("synced")
    try:
        while True:
            result = _sync_once(google_account_id, calendar_id, ref)
            total.status, total.full = result.status, total.full or result.full
            total.changes += result.changes
            total.booking_changes += result.booking_changes
            total.list_calls += result.list_calls
            if result.status != "synced" or not _release(ref, holder):
                break
    except BaseException:
        _release(ref, holder, abandon=True)
        raise
    if total.status != "synced":
        _release(ref, holder, abandon=True)
    if total.status == "not_connected":
        ref.delete()  # a late task of a disconnected account must not leave state behind
    return total


def _acquire(ref, holder: str) -> bool:
    def attempt(transaction) -> bool:
        now = _now()
        snap = ref.get(transaction=transaction)
        lease = (snap.to_dict() or {}).get("lease_until") if snap.exists else None
        if lease and lease > now:
            return False
        transaction.set(ref, {"lease_until": now + LEASE, "lease_holder": holder}, merge=True)
        return True

    return transactional(attempt)(db().transaction())


def _release(ref, holder: str, *, abandon: bool = False) -> bool:
    """Give the lease back; True (lease kept) when a notification came in after the round
    began, which the coalesced sync of that notification left to this one."""
    from google.cloud.firestore import DELETE_FIELD

    def attempt(transaction) -> bool:
        snap = ref.get(transaction=transaction)
        state = snap.to_dict() or {}
        if state.get("lease_holder") != holder:
            return False
        behind = state.get("notifications", 0) > state.get("synced_notifications", 0)
        if behind and not abandon:
            transaction.update(ref, {"lease_until": _now() + LEASE})
            return True
        transaction.update(ref, {"lease_until": DELETE_FIELD, "lease_holder": DELETE_FIELD})
        return False

    return transactional(attempt)(db().transaction())


def _sync_once(gid: str, calendar_id: str, ref) -> SyncResult:
    state = ref.get().to_dict() or {}
    notifications_seen = state.get("notifications", 0)
    try:
        ga = google_accounts.get(gid)
    except errors.NotFound:
        return SyncResult("not_connected")
    if not ga.connected:
        _mark_out_of_sync(ref, "reconnect_needed")
        return SyncResult("reconnect_needed")
    now = _now()
    token = state.get("sync_token")
    if token and state.get("cached_until") and state["cached_until"] - now < busy_cache.HORIZON / 2:
        token = None  # the cached window is running out: read it afresh
    try:
        client = google_accounts.calendar_client(ga)
        events, next_token, calendar_tz, calls = _list_changes(client, calendar_id, token, now)
    except errors.CalendarAuthRevoked:
        # calendar_client has already marked the account "reconnect needed" (and told the owner).
        _mark_out_of_sync(ref, "reconnect_needed")
        return SyncResult("reconnect_needed")
    except GoogleApiError as exc:
        if exc.http_status in (401, 403, 404) and exc.reason not in RATE_LIMITED:
            # The calendar is gone or no longer readable: never trust the cached copy again.
            _mark_out_of_sync(ref, f"unreadable_{exc.http_status}")
            log(logger, logging.WARNING, "calendar cannot be synced", google_account_id=gid,
                calendar_id=calendar_id, status=exc.http_status, reason=exc.reason)
            return SyncResult("unreadable")
        raise
    booking_changes = sum(_apply_to_booking(gid, calendar_id, ev, calendar_tz) for ev in events)
    if calls.full:
        cached_from, cached_until = now - FULL_SYNC_LOOKBACK, now + busy_cache.HORIZON
        previous = None
    else:
        cached_from, cached_until = state.get("cached_from"), state.get("cached_until")
        previous = state.get("busy") if state.get("cacheable", True) else None
    cacheable = calls.full or state.get("cacheable", True)
    busy = busy_cache.merge(previous, events, calendar_tz, now=now, until=cached_until) \
        if cacheable else None
    ref.set({
        "google_account_id": gid,
        "calendar_id": calendar_id,
        "sync_token": next_token,
        "busy": busy or [],
        "cacheable": busy is not None,
        "cached_from": cached_from,
        "cached_until": cached_until,
        "time_zone": calendar_tz,
        "in_sync": True,
        "failure": None,
        "last_synced_at": now,
        "synced_notifications": notifications_seen,
    }, merge=True)
    return SyncResult("synced", full=calls.full, changes=len(events),
                      booking_changes=booking_changes, list_calls=calls.count)


@dataclass
class _Calls:
    count: int = 0
    full: bool = False


def _list_changes(client, calendar_id: str, token: str | None, now: datetime):
    """Every changed event since `token` (all events of the window when None), the next sync
    token and the calendar's time zone. A 410 from Google means the token is dead: start over
    with a full sync (the caller then rebuilds the cache from scratch)."""
    calls = _Calls(full=token is None)
    while True:
        try:
            events, next_token, tz = _pages(client, calendar_id, token, now, calls)
            return events, next_token, tz, calls
        except GoogleApiError as exc:
            if exc.http_status != 410 or token is None:
                raise
            log(logger, logging.INFO, "sync token expired; full resync", calendar_id=calendar_id)
            token, calls.full = None, True


def _pages(client, calendar_id: str, token: str | None, now: datetime, calls: _Calls):
    params = dict(LIST_PARAMS)
    if token:
        params["syncToken"] = token
    else:
        from shared.adapters.google_calendar import rfc3339

        params["timeMin"] = rfc3339(now - FULL_SYNC_LOOKBACK)
        params["timeMax"] = rfc3339(now + busy_cache.HORIZON)
    events: list[dict] = []
    page_token = None
    while True:
        page = client.list_events(calendar_id, **params,
                                  **({"pageToken": page_token} if page_token else {}))
        calls.count += 1
        events.extend(page.get("items", []))
        page_token = page.get("nextPageToken")
        if not page_token:
            return events, page.get("nextSyncToken"), page.get("timeZone", "UTC")


def _mark_out_of_sync(ref, failure: str) -> None:
    ref.set({"in_sync": False, "failure": failure, "failed_at": _now()}, merge=True)


def mark_notified(google_account_id: str, calendar_id: str, batch) -> None:
    """Count a notification (in the caller's batch): the cache is behind until a sync that
    started after it has finished."""
    from google.cloud.firestore import Increment

    batch.set(state_ref(google_account_id, calendar_id), {"notifications": Increment(1)},
              merge=True)


# --- bookings --------------------------------------------------------------------------------


def _apply_to_booking(gid: str, calendar_id: str, event: dict, calendar_tz: str) -> bool:
    """Turn a changed Google event into a booking change; True when the booking changed."""
    private = (event.get("extendedProperties") or {}).get("private") or {}
    if not private.get(BOOKING_ID_KEY) and event.get("status") != "cancelled":
        return False  # not one of ours
    booking = _booking_for(gid, calendar_id, event)
    if booking is None or booking.get("status") != "confirmed":
        return False
    if event.get("etag") and event["etag"] == (booking.get("google") or {}).get("etag"):
        return False  # our own write coming back, or a change already applied
    from shared.services import bookings

    try:
        if event.get("status") == "cancelled":
            bookings.cancel(booking["account_id"], booking["id"], by=GOOGLE, origin=GOOGLE)
            return True
        changed = False
        span = busy_cache.event_span(event, calendar_tz)
        if span and span != (booking["start"], booking["end"]):
            booking = bookings.reschedule(
                booking["account_id"], booking["id"], span[0], span[1], origin=GOOGLE,
                by="organizer", google={"etag": event.get("etag"),
                                        "event_sequence": event.get("sequence", 0)})
            changed = True
        return _guest_response(booking, event) or changed
    except errors.AppError as exc:
        if exc.status >= 500:
            raise
        # A change the booking cannot take (e.g. cancelled in calbridge meanwhile) must not
        # hold up the calendar's other changes; it is logged for the operator.
        log(logger, logging.WARNING, "Google change not applied to booking",
            booking_id=booking["id"], code=exc.code, reason=exc.message)
        return False


def _booking_for(gid: str, calendar_id: str, event: dict) -> dict | None:
    """The booking an event stands for, if this calendar holds the booking's own event."""
    from shared.services import bookings

    private = (event.get("extendedProperties") or {}).get("private") or {}
    if private.get(BOOKING_ID_KEY):
        found = [bookings.get_by_id(private[BOOKING_ID_KEY])]
    else:
        # Deleted events come back as bare tombstones (id and status only).
        from google.cloud.firestore_v1.base_query import FieldFilter

        found = [{**s.to_dict(), "id": s.id} for s in db().collection(BOOKINGS).where(
            filter=FieldFilter("google.event_id", "==", event["id"])).get()]
    for booking in found:
        google = (booking or {}).get("google") or {}
        if google.get("google_account_id") == gid and google.get("calendar_id") == calendar_id \
                and google.get("event_id") == event["id"]:
            return booking
    return None


def _guest_response(booking: dict, event: dict) -> bool:
    """Tell the organizer once when the guest declines in Google (`declines/{booking_id}`
    remembers it; accepting again forgets it, so a later decline is told again)."""
    guest = (booking.get("guest") or {}).get("email", "").lower()
    status = next((a.get("responseStatus") for a in event.get("attendees") or []
                   if a.get("email", "").lower() == guest), None)
    ref = db().collection(DECLINES).document(booking["id"])
    if status != "declined":
        if status in ("accepted", "tentative"):
            ref.delete()
        return False
    from google.api_core.exceptions import AlreadyExists

    try:
        ref.create({"booking_id": booking["id"], "sequence": booking.get("sequence", 0),
                    "declined_at": _now()})
    except AlreadyExists:
        return False
    from shared.services import notifications

    try:
        notifications.booking_changed(booking, "guest_declined")
    except BaseException:
        ref.delete()  # the retried sync must tell it again
        raise
    return True
