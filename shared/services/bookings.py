"""Bookings: create, reschedule and cancel, with their Google event; the only code writing them.

No double booking. Every booking claims the time it occupies (its meeting padded with its
buffers) as documents `booking_claims/{account}_{unit}`, one per 5-minute unit, created in the
same atomic batch as the booking with create() preconditions: of any two bookings whose padded
times overlap, the second batch meets an existing claim and writes nothing. Claims are per
organizer, so this holds across all event types. Unlike a read-modify-write transaction on a
shared "day" document, concurrent bookings of different times touch different documents and
never wait for each other's locks (docs/decisions/0006-booking-claims.md). A per-day limit
adds one claim `q_{event_type}_{day}_{n}` for n in 1..max.

A claim is live while its hold (5 minutes from its creation, the time a booking may take to
reach Google) lasts, or for as long as it is listed in `claims` of a confirmed booking. Claims
of a crashed or failed attempt therefore expire, and the next booking that meets one removes it
(in a transaction that re-checks it), so no slot stays blocked by a half-made booking.

Google. The event goes into the default calendar after the claim, with an id derived from the
booking id, so a retried insert answers 409 instead of duplicating (we then read the event).
Google 429/5xx are retried by the adapter; if the event still cannot be created, the booking is
rejected and its claims released (docs/decisions/0007-booking-when-google-fails.md).

`origin`: changes made in calbridge ("calbridge") are written to Google; changes found in
Google by the sync ("google") are only recorded here, never written back. Every change bumps
`sequence` and, once committed, calls shared.services.notifications.booking_changed.
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import errors
from shared.adapters.firestore import (
    AlreadyExists, Changed, commit_creates, db, read, transactional, update_unchanged)
from shared.adapters.google_calendar import GoogleApiError, rfc3339
from shared.domain.slots import Rules, slot_problem
from shared.domain.timeranges import BusyIndex, Range
from shared.logs import get_logger, log
from shared.services import availability, google_accounts, members, organizer
from shared.services.organizer import Organizer
from shared.web import i18n

logger = get_logger("bookings")

BOOKINGS = availability.BOOKINGS
CLAIMS = "booking_claims"
UNIT_SECONDS = 300
HOLD = timedelta(minutes=5)
ATTEMPTS = 3

CALBRIDGE = "calbridge"
GOOGLE = "google"
PENDING, CONFIRMED, CANCELLED, FAILED, EXPIRED = (
    "pending", "confirmed", "cancelled", "failed", "expired")
SOURCE_BOOKING_PAGE = "booking_page"
SOURCE_AUTOMATION = "automation"

_EMAIL = re.compile(r"^[^@\s<>\"'(),;:\\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

CALENDAR_WRITE_FAILED = ("We could not create the calendar event, so nothing was booked. "
                         "Please try again in a few minutes.")


class GuestIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    timezone: str = "UTC"
    language: str = "en"

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must be a single line of text")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("is not a valid email address")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            return members.validate_timezone(value)
        except errors.InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return i18n.normalize(value)


NOTES_MAX = 2000


def validate_notes(notes: str | None) -> str:
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise errors.InvalidInput(f"notes: at most {NOTES_MAX} characters, please",
                                  code="validation_failed")
    return notes


def _now() -> datetime:
    return datetime.now(timezone.utc)


def booking_id_for(account_id: str, idempotency_key: str | None) -> str:
    """Same key, same booking: a repeated request finds the booking it already made."""
    if not idempotency_key:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{account_id}:{idempotency_key}".encode()).hexdigest()[:32]


def event_id_for(booking_id: str) -> str:
    # Google event ids are base32hex (a-v, 0-9); a hex booking id already is.
    return "cb" + booking_id


def unit_claims(account_id: str, block: Range) -> list[str]:
    first = math.floor(block[0].timestamp() / UNIT_SECONDS)
    last = math.ceil(block[1].timestamp() / UNIT_SECONDS)
    return [f"{account_id}_{unit}" for unit in range(first, last)]


def quota_claims(event_type_id: str, day: date, max_per_day: int) -> list[str]:
    return [f"q_{event_type_id}_{day.isoformat()}_{n}" for n in range(1, max_per_day + 1)]


def _ref(booking_id: str):
    return db().collection(BOOKINGS).document(booking_id)


def _claim_ref(claim_id: str):
    return db().collection(CLAIMS).document(claim_id)


def _out(booking_id: str, data: dict) -> dict:
    return {"id": booking_id, **data}


# --- reading ---------------------------------------------------------------------------------


def get(account_id: str, booking_id: str) -> dict:
    snap = read(BOOKINGS, booking_id) if len(booking_id) <= 64 else None
    if snap is None or not snap.exists or snap.get("account_id") != account_id:
        raise errors.NotFound("booking not found", code="booking_not_found")
    return _out(snap.id, snap.to_dict())


def get_by_id(booking_id: str) -> dict | None:
    snap = _ref(booking_id).get()
    return _out(snap.id, snap.to_dict()) if snap.exists else None


def list_for_account(account_id: str, *, start: datetime, end: datetime | None = None,
                     status: str | None = None) -> list[dict]:
    """Bookings starting in [start, end) (no end: all from start on), by start time."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (db().collection(BOOKINGS)
             .where(filter=FieldFilter("account_id", "==", account_id))
             .where(filter=FieldFilter("start", ">=", start)))
    if end is not None:
        query = query.where(filter=FieldFilter("start", "<", end))
    found = [_out(s.id, s.to_dict()) for s in query.stream()]
    wanted = (status,) if status else (CONFIRMED, CANCELLED)
    return sorted((b for b in found if b["status"] in wanted), key=lambda b: b["start"])


# --- claims ----------------------------------------------------------------------------------


def _live(claim_id: str, claim: dict, holder: dict | None, now: datetime) -> bool:
    if claim.get("hold_until") and claim["hold_until"] > now:
        return True
    return bool(holder and holder.get("status") == CONFIRMED
                and claim_id in holder.get("claims", ()))


def _claim_doc(booking_id: str, block: Range, now: datetime) -> dict:
    # purge_at: a Firestore TTL policy removes claims of past meetings (infra/firestore.tf).
    return {"booking_id": booking_id, "hold_until": now + HOLD,
            "purge_at": block[1] + timedelta(days=1)}


def _holders(claim_snaps) -> dict[str, dict | None]:
    ids = {s.get("booking_id") for s in claim_snaps}
    snaps = db().get_all([_ref(i) for i in ids]) if ids else []
    return {s.id: (s.to_dict() if s.exists else None) for s in snaps}


def _dead_claims(claim_ids: list[str], booking_id: str, now: datetime) -> tuple[list[str], bool]:
    """(claims held by dead attempts, whether another live booking holds any of them)."""
    snaps = [s for s in db().get_all([_claim_ref(c) for c in claim_ids])
             if s.exists and s.get("booking_id") != booking_id]
    holders = _holders(snaps)
    dead, live = [], False
    for snap in snaps:
        if _live(snap.id, snap.to_dict(), holders.get(snap.get("booking_id")), now):
            live = True
        else:
            dead.append(snap.id)
    return dead, live


def _release_dead(claim_ids: list[str], now: datetime) -> None:
    """Delete claims of expired or failed attempts, re-checked inside the transaction."""
    refs = [_claim_ref(c) for c in claim_ids]

    @transactional
    def release(transaction):
        snaps = [s for s in transaction.get_all(refs) if s.exists]
        ids = {s.get("booking_id") for s in snaps}
        holders = {s.id: s for s in transaction.get_all([_ref(i) for i in ids])} if ids else {}
        for snap in snaps:
            holder = holders.get(snap.get("booking_id"))
            data = holder.to_dict() if holder is not None and holder.exists else None
            if not _live(snap.id, snap.to_dict(), data, now):
                transaction.delete(snap.reference)
        for holder in holders.values():
            if holder.exists and holder.get("status") == PENDING and holder.get("hold_until") <= now:
                transaction.update(holder.reference, {"status": EXPIRED, "updated_at": now})

    release(db().transaction())


def _pick_quota(event_type_id: str, day: date, max_per_day: int, booking_id: str,
                now: datetime) -> str:
    ids = quota_claims(event_type_id, day, max_per_day)
    snaps = list(db().get_all([_claim_ref(c) for c in ids]))
    taken = {s.id for s in snaps if s.exists}
    if any(s.exists and s.get("booking_id") == booking_id for s in snaps):
        return next(s.id for s in snaps if s.exists and s.get("booking_id") == booking_id)
    free = [c for c in ids if c not in taken]
    if free:
        return free[0]
    dead, _ = _dead_claims(ids, booking_id, now)
    if not dead:
        raise errors.SlotUnavailable("no more bookings are possible on that day")
    _release_dead(dead[:1], now)
    return dead[0]


@dataclass
class _Claim:
    units: list[str]
    quota: str | None = None
    booking_written_at: datetime | None = None

    @property
    def ids(self) -> list[str]:
        return self.units + ([self.quota] if self.quota else [])


def _reserve(booking_id: str, block: Range, claim: "_ClaimPlan", now: datetime,
             booking_doc: dict | None = None) -> _Claim:
    """Create the claims (and the pending booking itself, when given) in one atomic batch."""
    for _ in range(ATTEMPTS):
        taken = _Claim(claim.new_units,
                       claim.quota_for(booking_id, now) if claim.needs_quota else None)
        if not taken.ids and booking_doc is None:
            return taken
        batch = db().batch()
        for claim_id in taken.ids:
            batch.create(_claim_ref(claim_id), _claim_doc(booking_id, block, now))
        if booking_doc is not None:
            batch.create(_ref(booking_id), {**booking_doc, "claims": claim.all_units + (
                [taken.quota] if taken.quota else claim.kept_quota)})
        try:
            results = commit_creates(batch)
            taken.booking_written_at = results[-1].update_time if booking_doc else None
            return taken
        except AlreadyExists:
            if booking_doc is not None and _ref(booking_id).get().exists:
                raise errors.Conflict("this booking is already being processed",
                                      code="booking_in_progress") from None
            dead, live = _dead_claims(taken.units, booking_id, now)
            if live:
                raise errors.SlotUnavailable() from None
            if dead:
                _release_dead(dead, now)
    raise errors.SlotUnavailable()


@dataclass
class _ClaimPlan:
    """Which claims a booking needs: `new_units` to create now, `all_units` when done."""

    all_units: list[str]
    new_units: list[str]
    quota_event_type: str | None = None
    quota_day: date | None = None
    max_per_day: int | None = None
    kept_quota: list[str] = field(default_factory=list)

    @property
    def needs_quota(self) -> bool:
        return self.max_per_day is not None and not self.kept_quota

    def quota_for(self, booking_id: str, now: datetime) -> str:
        return _pick_quota(self.quota_event_type, self.quota_day, self.max_per_day, booking_id,
                           now)


def _drop_claims(transaction, claim_ids: list[str], booking_id: str) -> list:
    """Read (and return) the claims among `claim_ids` still held by `booking_id`."""
    if not claim_ids:
        return []
    snaps = transaction.get_all([_claim_ref(c) for c in claim_ids])
    return [s.reference for s in snaps if s.exists and s.get("booking_id") == booking_id]


def _release_own(claim_ids: list[str], booking_id: str, *, status: str | None = None,
                 reason: str = "") -> None:
    @transactional
    def release(transaction):
        refs = _drop_claims(transaction, claim_ids, booking_id)
        for ref in refs:
            transaction.delete(ref)
        if status:
            transaction.update(_ref(booking_id), {"status": status, "failure": reason,
                                                  "updated_at": _now()})

    release(db().transaction())


# --- Google ----------------------------------------------------------------------------------


def _event_time(value: datetime, tz: str) -> dict:
    return {"dateTime": rfc3339(value), "timeZone": tz}


def _description(booking: dict) -> str:
    # Google renders event descriptions as HTML: every user-provided text is escaped.
    parts = []
    if booking.get("description"):
        parts.append(html.escape(booking["description"]))
    guest = booking["guest"]
    parts.append(f"Booked by {html.escape(guest['name'])} &lt;{html.escape(guest['email'])}&gt;")
    if booking.get("notes"):
        parts.append("Notes:\n" + html.escape(booking["notes"]))
    return "\n\n".join(parts)


def _event_body(booking_id: str, booking: dict, meet: bool) -> dict:
    tz = booking["organizer"]["timezone"]
    body = {
        "id": event_id_for(booking_id),
        "summary": f"{booking['title']} ({booking['guest']['name']})",
        "description": _description(booking),
        "start": _event_time(booking["start"], tz),
        "end": _event_time(booking["end"], tz),
        "attendees": [{"email": booking["guest"]["email"],
                       "displayName": booking["guest"]["name"]}],
        "extendedProperties": {"private": {"bookingId": booking_id}},
        "reminders": {"useDefault": True},
    }
    if meet:
        body["conferenceData"] = {"createRequest": {
            "requestId": booking_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    elif booking.get("location"):
        body["location"] = booking["location"]
    return body


def meet_link(event: dict) -> str | None:
    for entry in (event.get("conferenceData") or {}).get("entryPoints", []):
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return entry["uri"]
    return event.get("hangoutLink")


def _google_fields(event: dict) -> dict:
    return {"event_id": event["id"], "etag": event.get("etag"), "meet_link": meet_link(event),
            "ical_uid": event.get("iCalUID"), "event_sequence": event.get("sequence", 0),
            "html_link": event.get("htmlLink")}


def _insert_event(client, calendar_id: str, booking_id: str, booking: dict, meet: bool) -> dict:
    try:
        return client.insert_event(calendar_id, _event_body(booking_id, booking, meet))
    except GoogleApiError as exc:
        if exc.http_status != 409:
            raise
    # 409: an earlier attempt (a retry after a lost answer) already created our event.
    event = client.get_event(calendar_id, event_id_for(booking_id))
    owner = (event.get("extendedProperties") or {}).get("private", {}).get("bookingId")
    if owner != booking_id:
        raise GoogleApiError("the event id is taken by an event of another booking", status=409)
    return event


def _client_for(booking: dict):
    return google_accounts.calendar_client(booking["google"]["google_account_id"])


def _patch_times(booking: dict, start: datetime, end: datetime) -> dict:
    g = booking["google"]
    client = _client_for(booking)
    tz = booking["organizer"]["timezone"]
    body = {"start": _event_time(start, tz), "end": _event_time(end, tz)}
    try:
        return client.patch_event(g["calendar_id"], g["event_id"], body, etag=g.get("etag"))
    except GoogleApiError as exc:
        if exc.http_status != 412:
            raise
    # 412: the event changed in Google since we stored its etag; the time is ours to set.
    fresh = client.get_event(g["calendar_id"], g["event_id"])
    return client.patch_event(g["calendar_id"], g["event_id"], body, etag=fresh.get("etag"))


def _delete_event(booking: dict) -> None:
    g = booking.get("google") or {}
    if not g.get("event_id"):
        return
    try:
        _client_for(booking).delete_event(g["calendar_id"], g["event_id"])
    except GoogleApiError as exc:
        if exc.http_status not in (404, 410):  # already gone in Google: nothing left to do
            raise


# --- notifications ---------------------------------------------------------------------------


def _notify(booking: dict, kind: str) -> None:
    """After the commit, never inside it: emails follow the booking, they don't decide it."""
    from shared.services import notifications

    try:
        notifications.booking_changed(booking, kind)
    except Exception:  # noqa: BLE001 - the booking is committed; the change is kept to replay
        fields = {"booking_id": booking["id"], "kind": kind, "sequence": booking.get("sequence")}
        logger.exception("booking emails could not be queued; kept for the sweep",
                         extra={"fields": fields})
        try:
            notifications.remember_unsent(booking, kind)
        except Exception:  # noqa: BLE001 - Firestore down as well: only the log is left
            logger.exception("could not keep the unsent change", extra={"fields": fields})


# --- create ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    account_id: str
    source: str
    title: str
    description: str
    location: str
    start: datetime
    end: datetime
    block: Range
    event_type_id: str | None = None
    event_type_slug: str | None = None
    rules: Rules | None = None


def book(org: Organizer, *, start: datetime, guest: GuestIn, notes: str = "",
         idempotency_key: str | None = None, now: datetime | None = None) -> dict:
    """A guest books `start` of the organizer's event type: the path of the booking page and
    API. Load `org` with `also=booking_refs(...)`: the booking a repeated request made."""
    now = now or _now()
    event_type = org.event_type
    rules = Rules.from_event_type(event_type)
    start = start.astimezone(timezone.utc)
    problem = slot_problem(rules, start, now)
    if problem:
        raise errors.InvalidInput(problem, code="invalid_slot")
    return _create(org, _Request(
        account_id=event_type["account_id"], source=SOURCE_BOOKING_PAGE,
        title=event_type["title"], description=event_type.get("description", ""),
        location=event_type.get("location", ""), start=start,
        end=start + timedelta(minutes=rules.duration_minutes), block=rules.padded(start),
        event_type_id=event_type["id"], event_type_slug=event_type["slug"], rules=rules,
    ), guest, validate_notes(notes), idempotency_key, now)


def create_event(account_id: str, *, title: str, start: datetime, end: datetime,
                 attendee: GuestIn, description: str = "", meet: bool = True,
                 idempotency_key: str | None = None, now: datetime | None = None) -> dict:
    """Forms and automations: an event at a given time, through the same path as bookings
    (no working hours, but the same conflict check, claims and Google event)."""
    now = now or _now()
    key_ref = booking_refs(account_id, idempotency_key)
    org = organizer.load(account_id, also=key_ref)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if end <= start:
        raise errors.InvalidInput("end must be after start", code="invalid_slot")
    if end - start > timedelta(hours=24):
        raise errors.InvalidInput("an event can last at most 24 hours", code="invalid_slot")
    if start <= now:
        raise errors.InvalidInput("that time is in the past", code="invalid_slot")
    return _create(org, _Request(
        account_id=account_id, source=SOURCE_AUTOMATION, title=title, description=description,
        location="google_meet" if meet else "", start=start, end=end, block=(start, end),
    ), attendee, "", idempotency_key, now)


def _check_free(org: Organizer, request: _Request, now: datetime,
                exclude: dict | None = None) -> int:
    """Re-check Google free/busy and the store for the padded time; returns the day's count."""
    found = availability.busy(org, *request.block, now=now, exclude=exclude,
                              whole_days_in=request.rules, live=True)
    if BusyIndex(found.ranges).overlaps(*request.block):
        raise errors.SlotUnavailable()
    if request.rules is None or request.rules.max_per_day is None:
        return 0
    count = availability.booked_per_day(request.rules, request.event_type_id, found.bookings)[
        request.rules.local_day(request.start)]
    if count >= request.rules.max_per_day:
        raise errors.SlotUnavailable("no more bookings are possible on that day")
    return count


def _organizer(org: Organizer) -> dict:
    owner, account = org.owner, org.account
    return {"name": account.get("name") or owner.name, "email": owner.email,
            "timezone": account.get("timezone", "UTC"), "language": owner.language}


def booking_refs(account_id: str, idempotency_key: str | None) -> tuple:
    """The booking a request with this key made, to read with the organizer (no key: none)."""
    return (_ref(booking_id_for(account_id, idempotency_key)),) if idempotency_key else ()


def _create(org: Organizer, request: _Request, guest: GuestIn, notes: str, key: str | None,
            now: datetime) -> dict:
    account = org.account
    ga, calendar = org.default_calendar()
    booking_id = booking_id_for(request.account_id, key)
    existing = org.snapshot(_ref(booking_id)) if key else None
    if existing is not None and existing.exists:
        data = existing.to_dict()
        if data.get("status") == CONFIRMED:
            return _out(booking_id, data)
        if data.get("status") == PENDING and data.get("hold_until") > now:
            raise errors.Conflict("this booking is already being processed",
                                  code="booking_in_progress")
        if data.get("status") == CANCELLED:
            raise errors.Conflict("this request already made a booking, which was cancelled",
                                  code="already_cancelled")
        # A failed or abandoned attempt with the same key: start it over.
        _release_own(data.get("claims", []), booking_id)
        _ref(booking_id).delete()

    _check_free(org, request, now)
    rules = request.rules
    units = unit_claims(request.account_id, request.block)
    plan = _ClaimPlan(
        all_units=units, new_units=units,
        quota_event_type=request.event_type_id,
        quota_day=rules.local_day(request.start) if rules else None,
        max_per_day=rules.max_per_day if rules else None,
    )
    doc = {
        "account_id": request.account_id,
        "event_type_id": request.event_type_id,
        "event_type_slug": request.event_type_slug,
        "source": request.source,
        "status": PENDING,
        "title": request.title,
        "description": request.description,
        "location": request.location,
        "start": request.start,
        "end": request.end,
        "block_start": request.block[0],
        "block_end": request.block[1],
        "hold_until": now + HOLD,
        "sequence": 0,
        "guest": guest.model_dump(),
        "notes": notes,
        "organizer": _organizer(org),
        "google": {"google_account_id": ga.id, "calendar_id": calendar["calendar_id"],
                   "event_id": None, "etag": None, "meet_link": None, "ical_uid": None,
                   "event_sequence": None, "html_link": None},
        "reminders": calendar.get("default_reminders", []),
        "previous": None,
        "cancelled_by": None,
        "cancel_reason": None,
        "idempotency_key": key,
        "created_at": now,
        "updated_at": now,
    }
    taken = _reserve(booking_id, request.block, plan, now, booking_doc=doc)
    doc["claims"] = taken.ids
    meet = request.location == "google_meet" and account.get("meet_enabled", True)
    try:
        event = _insert_event(google_accounts.calendar_client(ga), calendar["calendar_id"],
                              booking_id, doc, meet)
    except (GoogleApiError, errors.CalendarAuthRevoked) as exc:
        log(logger, logging.ERROR, "Google event could not be created; booking rejected",
            booking_id=booking_id, error=exc.message)
        _release_own(taken.ids, booking_id, status=FAILED, reason=exc.message)
        _discard_event(doc, booking_id)
        raise errors.CalendarUnavailable(CALENDAR_WRITE_FAILED, code="calendar_write_failed") \
            from None
    booking = _confirm(booking_id, doc, event, taken.booking_written_at)
    _notify(booking, "confirmed")
    return booking


def _discard_event(doc: dict, booking_id: str) -> None:
    """Best effort: an insert that failed late (a lost answer) may still have made the event,
    which would keep the time busy in Google; its id is known, so remove it."""
    try:
        _delete_event({"google": {**doc["google"], "event_id": event_id_for(booking_id)}})
    except (GoogleApiError, errors.CalendarAuthRevoked) as exc:
        log(logger, logging.WARNING, "could not remove the event of a rejected booking",
            booking_id=booking_id, error=exc.message)


def _confirm(booking_id: str, doc: dict, event: dict, written_at) -> dict:
    update = {"status": CONFIRMED, "google": {**doc["google"], **_google_fields(event)},
              "updated_at": _now()}
    try:
        update_unchanged(_ref(booking_id), update, written_at)
    except Changed:
        # Only possible when the hold ran out mid-booking and another booking reclaimed it.
        _discard_event(doc, booking_id)
        raise errors.SlotUnavailable() from None
    return _out(booking_id, {**doc, **update})


# --- reschedule ------------------------------------------------------------------------------


def reschedule(account_id: str, booking_id: str, start: datetime, end: datetime | None = None,
               *, origin: str = CALBRIDGE, by: str = "organizer", event_type: dict | None = None,
               google: dict | None = None, now: datetime | None = None) -> dict:
    """Move a confirmed booking. From calbridge the new time must be free (and, with
    `event_type`, one of its slots: the guest's reschedule page); the Google event is patched,
    keeping its id, Meet link and attendees. From Google (`origin="google"`) the new time is
    recorded as Google has it; `google` carries the event's new etag/sequence."""
    now = now or _now()
    booking = get(account_id, booking_id)
    if booking["status"] != CONFIRMED:
        raise errors.Conflict("only a confirmed booking can be moved", code="not_confirmed")
    start = start.astimezone(timezone.utc)
    end = end.astimezone(timezone.utc) if end else start + (booking["end"] - booking["start"])
    before = booking["start"] - booking["block_start"]
    after = booking["block_end"] - booking["end"]
    block = (start - before, end + after)
    rules = Rules.from_event_type(event_type) if event_type else None
    if origin == CALBRIDGE:
        if end <= start:
            raise errors.InvalidInput("end must be after start", code="invalid_slot")
        if start <= now:
            raise errors.InvalidInput("that time is in the past", code="invalid_slot")
        if rules:
            problem = slot_problem(rules, start, now)
            if problem:
                raise errors.InvalidInput(problem, code="invalid_slot")
        _check_free(organizer.load(account_id), _Request(
            account_id=account_id, source=booking["source"], title=booking["title"],
            description="", location="", start=start, end=end, block=block,
            event_type_id=booking.get("event_type_id"), rules=rules), now, exclude=booking)

    old_claims = list(booking.get("claims", []))
    old_quota = next((c for c in old_claims if c.startswith("q_")), None)
    # A per-day limit moves with the booking only when its day changes (and is known).
    new_day = rules.local_day(start) if rules and rules.max_per_day and old_quota else None
    keep_quota = old_quota if old_quota and (
        new_day is None or old_quota.startswith(f"q_{booking['event_type_id']}_{new_day}_")) else None
    units = unit_claims(account_id, block)
    plan = _ClaimPlan(all_units=units, new_units=[u for u in units if u not in old_claims],
                      quota_event_type=booking.get("event_type_id"), quota_day=new_day,
                      max_per_day=rules.max_per_day if new_day and not keep_quota else None,
                      kept_quota=[keep_quota] if keep_quota else [])
    if origin == CALBRIDGE:
        taken = _reserve(booking_id, block, plan, now)
        try:
            event = _patch_times(booking, start, end)
        except (GoogleApiError, errors.CalendarAuthRevoked) as exc:
            log(logger, logging.ERROR, "Google event could not be moved; booking unchanged",
                booking_id=booking_id, error=exc.message)
            _release_own(taken.ids, booking_id)
            raise errors.CalendarUnavailable(
                "We could not move the calendar event, so the booking was not changed. "
                "Please try again in a few minutes.", code="calendar_write_failed") from None
        google_update = _google_fields(event)
        held = units
    else:
        taken = _Claim(_claim_free_units(booking_id, block, plan.new_units, now))
        google_update = google or {}
        held = [u for u in units if u in old_claims or u in taken.units]
    new_claims = held + ([keep_quota] if keep_quota else [taken.quota] if taken.quota else [])
    updated = _commit_change(booking, {
        "start": start, "end": end, "block_start": block[0], "block_end": block[1],
        "previous": {"start": booking["start"], "end": booking["end"]},
        "claims": new_claims,
        "google": {**booking["google"], **google_update},
        "rescheduled_by": by,
    }, release=[c for c in old_claims if c not in new_claims])
    _notify(updated, "rescheduled")
    return updated


def _claim_free_units(booking_id: str, block: Range, units: list[str], now: datetime) -> list[str]:
    """Record a move made in Google: claim what is free; time already claimed by another
    booking stays theirs (the overlap exists in Google, calbridge cannot undo it)."""
    free = [s.id for s in db().get_all([_claim_ref(u) for u in units]) if not s.exists]
    taken = []
    for claim_id in free:
        batch = db().batch()
        batch.create(_claim_ref(claim_id), _claim_doc(booking_id, block, now))
        try:
            commit_creates(batch)
            taken.append(claim_id)
        except AlreadyExists:
            continue
    if len(taken) < len(units):
        log(logger, logging.WARNING, "booking moved in Google onto time claimed by another",
            booking_id=booking_id)
    return taken


def _commit_change(booking: dict, changes: dict, *, release: list[str]) -> dict:
    """Apply a change if the booking is still what we read (same sequence), bump the sequence
    and drop the claims it no longer needs, all in one transaction."""
    ref = _ref(booking["id"])

    @transactional
    def commit(transaction) -> dict:
        snap = ref.get(transaction=transaction)
        data = snap.to_dict()
        if data["status"] != CONFIRMED or data["sequence"] != booking["sequence"]:
            raise errors.Conflict("the booking was changed at the same time; reload and retry",
                                  code="booking_changed")
        stale = _drop_claims(transaction, release, booking["id"])
        update = {**changes, "sequence": data["sequence"] + 1, "updated_at": _now()}
        transaction.update(ref, update)
        for claim in stale:
            transaction.delete(claim)
        return _out(booking["id"], {**data, **update})

    return commit(db().transaction())


# --- cancel ----------------------------------------------------------------------------------


def cancel(account_id: str, booking_id: str, *, by: str = "organizer", reason: str = "",
           origin: str = CALBRIDGE) -> dict:
    """Cancel a confirmed booking; from calbridge its Google event is cancelled too."""
    booking = get(account_id, booking_id)
    if booking["status"] == CANCELLED:
        raise errors.Conflict("this booking is already cancelled", code="already_cancelled")
    if booking["status"] != CONFIRMED:
        raise errors.Conflict("only a confirmed booking can be cancelled", code="not_confirmed")
    reason = (reason or "").strip()
    if len(reason) > NOTES_MAX:
        raise errors.InvalidInput(f"reason: at most {NOTES_MAX} characters, please",
                                  code="validation_failed")
    if origin == CALBRIDGE:
        try:
            _delete_event(booking)
        except (GoogleApiError, errors.CalendarAuthRevoked) as exc:
            log(logger, logging.ERROR, "Google event could not be cancelled; booking unchanged",
                booking_id=booking_id, error=exc.message)
            raise errors.CalendarUnavailable(
                "We could not cancel the calendar event, so the booking is still on. "
                "Please try again in a few minutes.", code="calendar_write_failed") from None
    updated = _commit_change(booking, {"status": CANCELLED, "cancelled_by": by,
                                       "cancel_reason": reason, "claims": []},
                             release=booking.get("claims", []))
    _notify(updated, "cancelled")
    return updated
