"""Event types: the owner's booking calendars (duration, working hours, notice, buffers, ...).

Slugs are unique per account. The guarantee is the document `event_type_slugs/{account}_{slug}`
created in the same transaction as the event type (a query cannot lock a slug nobody holds yet);
it also makes the public lookup by slug one document read.

Booking times are claimed in 5-minute units (shared/services/bookings.py), so durations,
intervals, buffers and working hours are multiples of 5 minutes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import errors
from shared.adapters.firestore import db, is_document_id, read, transactional
from shared.domain.slots import WEEKDAYS
from shared.domain.timeranges import parse_hhmm
from shared.services import members

EVENT_TYPES = "event_types"
SLUGS = "event_type_slugs"
GOOGLE_MEET = "google_meet"
STEP_MINUTES = 5

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _five(value: int | None) -> int | None:
    if value is not None and value % STEP_MINUTES:
        raise ValueError(f"must be a multiple of {STEP_MINUTES} minutes")
    return value


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(examples=["09:00"])
    end: str = Field(examples=["17:00"])

    @model_validator(mode="after")
    def _valid(self):
        start, end = parse_hhmm(self.start), parse_hhmm(self.end)
        if start % STEP_MINUTES or end % STEP_MINUTES:
            raise ValueError(f"times must be on {STEP_MINUTES}-minute steps (like 09:05)")
        if start >= end:
            raise ValueError(f"{self.start}-{self.end}: the end must be after the start")
        return self


def _no_overlap(ranges: list[Hours]) -> list[Hours]:
    ordered = sorted(ranges, key=lambda h: parse_hhmm(h.start))
    for a, b in zip(ordered, ordered[1:]):
        if parse_hhmm(b.start) < parse_hhmm(a.end):
            raise ValueError(f"{a.start}-{a.end} and {b.start}-{b.end} overlap")
    return ordered


def _default_hours() -> dict:
    return {d: [Hours(start="09:00", end="17:00")] for d in WEEKDAYS[:5]}


class EventTypeIn(BaseModel):
    """What an owner or assistant may set; also the full validation of a stored event type."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    duration_minutes: int = Field(ge=5, le=720)
    description: str = Field(default="", max_length=5000)
    # "google_meet" adds a Meet link to the event; any other text is shown as the place.
    location: str = Field(default=GOOGLE_MEET, min_length=1, max_length=500)
    timezone: str | None = Field(default=None, description="IANA zone; the account's if omitted")
    weekly_hours: dict[Weekday, list[Hours]] = Field(default_factory=_default_hours)
    # An override replaces that date's weekly hours; an empty list makes it a day off.
    date_overrides: dict[date, list[Hours]] = Field(default_factory=dict, max_length=1000)
    min_notice_minutes: int = Field(default=60, ge=0, le=90 * 24 * 60)
    horizon_days: int = Field(default=60, ge=1, le=730)
    buffer_before_minutes: int = Field(default=0, ge=0, le=240)
    buffer_after_minutes: int = Field(default=0, ge=0, le=240)
    slot_interval_minutes: int | None = Field(default=None, ge=5, le=720)
    max_per_day: int | None = Field(default=None, ge=1, le=100)
    active: bool = True

    _fives = field_validator("duration_minutes", "buffer_before_minutes", "buffer_after_minutes",
                             "slot_interval_minutes")(_five)

    @field_validator("weekly_hours", "date_overrides")
    @classmethod
    def _sorted_windows(cls, value: dict) -> dict:
        return {k: _no_overlap(v) for k, v in value.items()}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                members.validate_timezone(value)
            except errors.InvalidInput as exc:
                raise ValueError(exc.message) from None
        return value

    def to_doc(self) -> dict:
        data = self.model_dump()
        data["date_overrides"] = {d.isoformat(): v for d, v in data["date_overrides"].items()}
        return data


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _public(doc_id: str, data: dict) -> dict:
    return {"id": doc_id, **data}


def _slug_id(account_id: str, slug: str) -> str:
    return f"{account_id}_{slug}"


def ref(event_type_id: str):
    return db().collection(EVENT_TYPES).document(event_type_id)


def slug_ref(account_id: str, slug: str):
    """The document naming the event type behind a slug; None for a slug no event type can
    have (a URL's slug is not validated before the lookup)."""
    if not slug or len(slug) > 64 or not is_document_id(_slug_id(account_id, slug)):
        return None
    return db().collection(SLUGS).document(_slug_id(account_id, slug))


def _validated(data: dict, account_id: str) -> dict:
    from shared.web.http import parse_model

    doc = parse_model(EventTypeIn, data).to_doc()
    doc["timezone"] = doc["timezone"] or members.get_account(account_id).get("timezone", "UTC")
    return doc


def create(account_id: str, data: dict) -> dict:
    doc = _validated(data, account_id)
    event_type_id = uuid.uuid4().hex
    new_ref, new_slug_ref = ref(event_type_id), slug_ref(account_id, doc["slug"])
    now = _now()
    doc.update(account_id=account_id, created_at=now, updated_at=now)

    @transactional
    def write(transaction):
        if new_slug_ref.get(transaction=transaction).exists:
            raise errors.Conflict(f"the slug {doc['slug']!r} is already used by another event "
                                  "type of this account", code="slug_taken")
        transaction.create(new_slug_ref, {"event_type_id": event_type_id})
        transaction.create(new_ref, doc)

    write(db().transaction())
    return _public(event_type_id, doc)


def from_snapshot(account_id: str, snap) -> dict:
    """The event type read as `snap`, if it exists and belongs to `account_id`."""
    if snap is None or not snap.exists or snap.get("account_id") != account_id:
        raise errors.NotFound("event type not found", code="event_type_not_found")
    return _public(snap.id, snap.to_dict())


def get(account_id: str, event_type_id: str) -> dict:
    return from_snapshot(account_id, read(EVENT_TYPES, event_type_id))


def id_for_slug(slug_snap) -> str:
    if slug_snap is None or not slug_snap.exists:
        raise errors.NotFound("this booking page does not exist", code="event_type_not_found")
    return slug_snap.get("event_type_id")


def bookable(event_type: dict) -> dict:
    """The public lookup of a booking page: inactive event types are "not found" there."""
    if not event_type.get("active", True):
        raise errors.NotFound("this booking page is not available", code="event_type_not_found")
    return event_type


def by_slug(account_id: str, slug: str, *, active_only: bool = True) -> dict:
    found = slug_ref(account_id, slug)
    event_type = get(account_id, id_for_slug(found.get() if found else None))
    return bookable(event_type) if active_only else event_type


def list_for_account(account_id: str) -> list[dict]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    snaps = db().collection(EVENT_TYPES).where(
        filter=FieldFilter("account_id", "==", account_id)).get()
    return sorted((_public(s.id, s.to_dict()) for s in snaps), key=lambda e: e["slug"])


def update(account_id: str, event_type_id: str, changes: dict) -> dict:
    current = get(account_id, event_type_id)
    editable = set(EventTypeIn.model_fields)
    merged = {k: v for k, v in current.items() if k in editable}
    merged.update(changes)
    doc = _validated(merged, account_id)
    et_ref = ref(event_type_id)
    old_slug, new_slug = current["slug"], doc["slug"]

    @transactional
    def write(transaction):
        if new_slug != old_slug:
            if slug_ref(account_id, new_slug).get(transaction=transaction).exists:
                raise errors.Conflict(f"the slug {new_slug!r} is already used by another event "
                                      "type of this account", code="slug_taken")
            transaction.create(slug_ref(account_id, new_slug), {"event_type_id": event_type_id})
            transaction.delete(slug_ref(account_id, old_slug))
        transaction.update(et_ref, {**doc, "updated_at": _now()})

    write(db().transaction())
    return get(account_id, event_type_id)


def delete(account_id: str, event_type_id: str) -> None:
    """Existing bookings keep their copy of title and times; only the page disappears."""
    current = get(account_id, event_type_id)
    batch = db().batch()
    batch.delete(slug_ref(account_id, current["slug"]))
    batch.delete(ref(event_type_id))
    batch.commit()
