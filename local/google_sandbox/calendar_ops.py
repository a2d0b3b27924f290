"""Event semantics shared by the Calendar API and the control API.

Callers must hold the state lock (``state.mutate()``); every change goes
through ``_commit`` so sync tokens, etags and push notifications can never
disagree with each other.
"""
from __future__ import annotations

import base64
import copy
import random
import re
import string
from datetime import datetime
from typing import Any

from . import timeutil
from .errors import ApiError, bad_request
from .store import ROLE_RANK, Calendar, Notification, State, StoredEvent, random_base32hex

EVENT_ID_RE = re.compile(r"^[a-v0-9]{5,1024}$")

# Fields a client can never set; Google silently ignores them in bodies.
READ_ONLY_FIELDS = {
    "kind", "etag", "id", "htmlLink", "created", "updated", "iCalUID", "creator", "organizer",
    "hangoutLink", "recurringEventId", "privateCopy", "locked", "attendeesOmitted",
}
# Changing any of these is an iCalendar-significant change and bumps `sequence`.
SEQUENCE_FIELDS = ("start", "end", "location", "recurrence", "status")
RESPONSE_STATUSES = {"needsAction", "declined", "tentative", "accepted"}
EVENT_STATUSES = {"confirmed", "tentative", "cancelled"}

MEET_ICON = "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"


# ---- access --------------------------------------------------------------------
def resolve_calendar(state: State, email: str, calendar_id: str, min_role: str = "freeBusyReader") -> Calendar:
    """Find a calendar the user can see at all; unknown and invisible look the same (404)."""
    cal_id = email if calendar_id == "primary" else calendar_id
    cal = state.calendars.get(cal_id)
    if cal is None or state.role(cal, email) == "none":
        raise ApiError(404, "notFound", "Not Found")
    require_role(state, cal, email, min_role)
    return cal


def require_role(state: State, cal: Calendar, email: str, min_role: str) -> None:
    role = state.role(cal, email)
    if ROLE_RANK[role] < ROLE_RANK[min_role]:
        level = "writer" if ROLE_RANK[min_role] >= ROLE_RANK["writer"] else "reader"
        raise ApiError(403, "requiredAccessLevel", f"You need to have {level} access to this calendar.")


def calendar_owner(cal: Calendar) -> str | None:
    if cal.data_owner:
        return cal.data_owner
    owners = [e for e, r in cal.acl.items() if r == "owner"]
    return owners[0] if owners else None


# ---- time normalisation ----------------------------------------------------------
def _normalize_when(value: Any, which: str, cal: Calendar) -> tuple[dict, datetime, bool]:
    if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
        raise ApiError(400, "required", f"Missing {which} time.")
    tz = value.get("timeZone")
    if tz is not None and not timeutil.valid_zone(tz):
        raise bad_request(f"Invalid time zone definition for {which} time.")
    if value.get("date") and value.get("dateTime"):
        raise bad_request(f"Invalid {which} time: specify either date or dateTime, not both.")
    if value.get("date"):
        try:
            day = timeutil.parse_date(value["date"])
        except ValueError:
            raise bad_request(f"Invalid {which} time.")
        stored = {"date": day.isoformat()}
        if tz:
            stored["timeZone"] = tz
        return stored, timeutil.start_of_day(day, tz or cal.time_zone), True
    raw = value["dateTime"]
    try:
        instant = timeutil.parse_rfc3339(raw, default_tz=tz)
    except ValueError as exc:
        if "without offset" in str(exc):
            raise bad_request(f"Missing time zone definition for {which} time.", reason="required")
        raise bad_request(f"Invalid {which} time.")
    stored = {"dateTime": timeutil.format_utc(instant)}
    if tz:
        stored["timeZone"] = tz
    return stored, instant, False


def render_when(stored: dict, tz_override: str | None, cal: Calendar) -> dict:
    if "date" in stored:
        return dict(stored)
    instant = timeutil.parse_rfc3339(stored["dateTime"])
    out = {"dateTime": timeutil.format_in_zone(instant, tz_override or stored.get("timeZone") or cal.time_zone)}
    if stored.get("timeZone"):
        out["timeZone"] = stored["timeZone"]
    return out


# ---- body normalisation ----------------------------------------------------------
def _normalize_attendees(attendees: Any, organizer_email: str) -> list:
    if not isinstance(attendees, list):
        raise bad_request("Invalid attendees value.")
    out: list = []
    seen: set = set()
    for att in attendees:
        if not isinstance(att, dict) or not att.get("email"):
            raise ApiError(400, "required", "Missing attendee email.")
        email = att["email"].strip()
        if "@" not in email:
            raise bad_request("Invalid attendee email.")
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        entry = {k: v for k, v in att.items() if k not in ("self", "id")}
        entry["email"] = email
        status = entry.get("responseStatus")
        if status is not None and status not in RESPONSE_STATUSES:
            raise bad_request(f"Invalid attendee response status: {status}")
        if email.lower() == organizer_email.lower():
            entry["organizer"] = True
            entry.setdefault("responseStatus", "accepted")
        else:
            entry.pop("organizer", None)
            entry.setdefault("responseStatus", "needsAction")
        out.append(entry)
    return out


def _normalize_reminders(rem: Any) -> dict:
    if not isinstance(rem, dict):
        raise bad_request("Invalid reminders value.")
    overrides = rem.get("overrides") or []
    use_default = rem.get("useDefault")
    if use_default is None:
        use_default = not overrides
    if use_default and overrides:
        raise bad_request(
            "Cannot specify both default reminders and overrides at the same time.",
            reason="cannotUseDefaultRemindersAndSpecifyOverride",
        )
    if len(overrides) > 5:
        raise bad_request("The maximum number of override reminders is 5.", reason="tooManyReminders")
    for o in overrides:
        if o.get("method") not in ("email", "popup"):
            raise ApiError(400, "required" if not o.get("method") else "invalid", "Missing reminder method."
                           if not o.get("method") else "Invalid reminder method.")
        minutes = o.get("minutes")
        if minutes is None or not (0 <= int(minutes) <= 40320):
            raise bad_request("Invalid reminder minutes value.")
    out: dict = {"useDefault": bool(use_default)}
    if overrides:
        out["overrides"] = [{"method": o["method"], "minutes": int(o["minutes"])} for o in overrides]
    return out


def _normalize_extended(props: Any) -> dict:
    if not isinstance(props, dict):
        raise bad_request("Invalid extendedProperties value.")
    out = {}
    for scope in ("private", "shared"):
        values = props.get(scope)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise bad_request(f"Invalid extendedProperties.{scope} value.")
        if values:
            out[scope] = dict(values)
    return out


def _meet_code() -> str:
    letters = string.ascii_lowercase
    return "-".join("".join(random.choice(letters) for _ in range(n)) for n in (3, 4, 3))


def _apply_conference(data: dict, requested: Any, previous: dict | None) -> None:
    """conferenceDataVersion=1 semantics: create a Meet on createRequest, else copy."""
    if requested is None:
        data.pop("conferenceData", None)
        data.pop("hangoutLink", None)
        return
    if not isinstance(requested, dict):
        raise bad_request("Invalid conference data.")
    create = requested.get("createRequest")
    if create:
        key_type = ((create.get("conferenceSolutionKey") or {}).get("type"))
        if key_type != "hangoutsMeet":
            raise bad_request("Invalid conference type value.")
        if not create.get("requestId"):
            raise ApiError(400, "required", "Missing conference request id.")
        prev_create = (previous or {}).get("createRequest") or {}
        if previous and prev_create.get("requestId") == create["requestId"]:
            data["conferenceData"] = copy.deepcopy(previous)
        else:
            code = _meet_code()
            uri = f"https://meet.google.com/{code}"
            data["conferenceData"] = {
                "createRequest": {
                    "requestId": create["requestId"],
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                    "status": {"statusCode": "success"},
                },
                "entryPoints": [{"entryPointType": "video", "uri": uri, "label": f"meet.google.com/{code}"}],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet", "iconUri": MEET_ICON},
                "conferenceId": code,
            }
        data["hangoutLink"] = data["conferenceData"]["entryPoints"][0]["uri"]
        return
    data["conferenceData"] = copy.deepcopy(requested)
    video = [e for e in requested.get("entryPoints") or [] if e.get("entryPointType") == "video"]
    if video and (requested.get("conferenceSolution") or {}).get("key", {}).get("type") == "hangoutsMeet":
        data["hangoutLink"] = video[0].get("uri")
    else:
        data.pop("hangoutLink", None)


def _merge_patch(target: dict, patch: dict) -> None:
    """Google patch semantics: objects merge recursively, arrays and scalars replace,
    explicit null clears."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _build(
    state: State,
    cal: Calendar,
    actor: str,
    body: dict,
    *,
    conference_version: int,
    previous: StoredEvent | None,
) -> tuple[dict, datetime, datetime]:
    """Turn a complete client representation into stored event data."""
    if body.get("recurrence"):
        raise ApiError(
            501, "notImplemented",
            "The Google sandbox does not support recurring events (recurrence); create single events instead.",
        )
    organizer_email = previous.data["organizer"]["email"] if previous else cal.id
    data: dict = {}
    for key, value in body.items():
        if key in READ_ONLY_FIELDS or key in ("conferenceData", "sequence") or value is None:
            continue
        data[key] = copy.deepcopy(value)
    start, start_utc, start_all_day = _normalize_when(body.get("start"), "start", cal)
    end, end_utc, end_all_day = _normalize_when(body.get("end"), "end", cal)
    if start_all_day != end_all_day:
        raise bad_request("Start and end times must either both be date or both be dateTime.")
    if end_utc < start_utc:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    data["start"], data["end"] = start, end
    status = data.get("status", "confirmed")
    if status not in EVENT_STATUSES:
        raise bad_request(f"Invalid value for status: {status}")
    data["status"] = status
    if data.get("transparency") not in (None, "opaque", "transparent"):
        raise bad_request(f"Invalid value for transparency: {data['transparency']}")
    if data.get("visibility") not in (None, "default", "public", "private", "confidential"):
        raise bad_request(f"Invalid value for visibility: {data['visibility']}")
    if "attendees" in data:
        data["attendees"] = _normalize_attendees(data["attendees"], organizer_email)
        if not data["attendees"]:
            del data["attendees"]
    data["reminders"] = _normalize_reminders(data["reminders"]) if "reminders" in data else {"useDefault": True}
    if "extendedProperties" in data:
        data["extendedProperties"] = _normalize_extended(data["extendedProperties"])
        if not data["extendedProperties"]:
            del data["extendedProperties"]
    data.setdefault("eventType", "default")

    prev_conf = previous.data.get("conferenceData") if previous else None
    if conference_version >= 1:
        _apply_conference(data, body.get("conferenceData"), prev_conf)
    elif prev_conf:
        # Version 0 clients cannot see conference data, so it must survive their writes.
        data["conferenceData"] = copy.deepcopy(prev_conf)
        if previous.data.get("hangoutLink"):
            data["hangoutLink"] = previous.data["hangoutLink"]

    if previous:
        for key in ("id", "created", "creator", "organizer", "iCalUID", "htmlLink"):
            data[key] = previous.data[key]
        changed = any(previous.data.get(f) != data.get(f) for f in SEQUENCE_FIELDS)
        seq = previous.data.get("sequence", 0) + (1 if changed else 0)
        asked = body.get("sequence")
        if isinstance(asked, (int, str)) and str(asked).isdigit() and int(asked) > seq:
            seq = int(asked)
        data["sequence"] = seq
    else:
        owner = state.users.get(cal.id)
        organizer = {"email": cal.id}
        if owner is None:
            organizer["displayName"] = cal.summary
        data["organizer"] = organizer
        data["creator"] = {"email": actor}
        asked = body.get("sequence")
        data["sequence"] = int(asked) if isinstance(asked, (int, str)) and str(asked).isdigit() else 0
    return data, start_utc, end_utc


def _commit(state: State, cal: Calendar, data: dict, start_utc: datetime, end_utc: datetime,
            previous: StoredEvent | None) -> StoredEvent:
    now = state.now()
    seq = state.next_seq()
    data["updated"] = timeutil.format_utc_millis(timeutil.from_epoch(now))
    # 16 digits like Google's etags; the seq suffix keeps them unique within a millisecond.
    etag = f'"{int(now * 1000)}{seq % 1000:03d}"'
    if previous:
        ev = previous
        ev.data, ev.start_utc, ev.end_utc, ev.change_seq, ev.etag = data, start_utc, end_utc, seq, etag
    else:
        ev = StoredEvent(data=data, start_utc=start_utc, end_utc=end_utc, change_seq=seq, etag=etag, create_seq=seq)
        cal.events[data["id"]] = ev
    notify_calendar(state, cal.id)
    return ev


# ---- operations ------------------------------------------------------------------
def insert_event(state: State, cal: Calendar, actor: str, body: dict, *, conference_version: int = 0) -> StoredEvent:
    event_id = body.get("id")
    if event_id is not None:
        if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
            raise bad_request("Invalid resource id value.")
        if event_id in cal.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
    else:
        event_id = random_base32hex()
    data, start_utc, end_utc = _build(state, cal, actor, body, conference_version=conference_version, previous=None)
    data["id"] = event_id
    data["created"] = timeutil.format_utc_millis(timeutil.from_epoch(state.now()))
    data["iCalUID"] = f"{event_id}@google.com"
    eid = base64.urlsafe_b64encode(f"{event_id} {cal.id}".encode()).decode().rstrip("=")
    data["htmlLink"] = f"https://www.google.com/calendar/event?eid={eid}"
    return _commit(state, cal, data, start_utc, end_utc, None)


def get_event(cal: Calendar, event_id: str) -> StoredEvent:
    ev = cal.events.get(event_id)
    if ev is None:
        raise ApiError(404, "notFound", "Not Found")
    return ev


def check_if_match(ev: StoredEvent, if_match: str | None) -> None:
    if not if_match or if_match.strip() == "*":
        return
    wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if ev.etag not in wanted:
        raise ApiError(412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header")


def update_event(state: State, cal: Calendar, actor: str, event_id: str, body: dict, *, partial: bool,
                 conference_version: int = 0) -> StoredEvent:
    ev = get_event(cal, event_id)
    if partial:
        merged = copy.deepcopy(ev.data)
        merged.pop("conferenceData", None)
        _merge_patch(merged, {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS and k != "conferenceData"})
        if "conferenceData" in body and conference_version >= 1:
            merged["conferenceData"] = body["conferenceData"]
        elif conference_version >= 1 and ev.data.get("conferenceData"):
            merged["conferenceData"] = copy.deepcopy(ev.data["conferenceData"])
        if "reminders" in body and body["reminders"] and "overrides" in body["reminders"] \
                and "useDefault" not in body["reminders"]:
            merged["reminders"]["useDefault"] = False
        full = merged
    else:
        full = body
    data, start_utc, end_utc = _build(state, cal, actor, full, conference_version=conference_version, previous=ev)
    return _commit(state, cal, data, start_utc, end_utc, ev)


def delete_event(state: State, cal: Calendar, event_id: str) -> StoredEvent:
    ev = get_event(cal, event_id)
    if ev.data.get("status") == "cancelled":
        raise ApiError(410, "deleted", "Resource has been deleted")
    data = copy.deepcopy(ev.data)
    data["status"] = "cancelled"
    data["sequence"] = data.get("sequence", 0) + 1
    # Keep the tombstone: incremental sync must be able to report the deletion.
    return _commit(state, cal, data, ev.start_utc, ev.end_utc, ev)


def respond(state: State, cal: Calendar, event_id: str, email: str, response_status: str) -> StoredEvent:
    ev = get_event(cal, event_id)
    if response_status not in RESPONSE_STATUSES:
        raise bad_request(f"Invalid attendee response status: {response_status}")
    data = copy.deepcopy(ev.data)
    for att in data.get("attendees", []):
        if att["email"].lower() == email.lower():
            att["responseStatus"] = response_status
            break
    else:
        raise ApiError(404, "notFound", f"{email} is not an attendee of this event")
    # An RSVP is not a significant change: etag/updated move, sequence does not.
    return _commit(state, cal, data, ev.start_utc, ev.end_utc, ev)


def render_event(state: State, cal: Calendar, ev: StoredEvent, viewer: str | None,
                 tz: str | None = None, max_attendees: int | None = None) -> dict:
    data = copy.deepcopy(ev.data)
    out: dict = {"kind": "calendar#event", "etag": ev.etag}
    for key in ("id", "status", "htmlLink", "created", "updated"):
        if key in data:
            out[key] = data.pop(key)
    out.update(data)
    out["start"] = render_when(ev.data["start"], tz, cal)
    out["end"] = render_when(ev.data["end"], tz, cal)
    if viewer and out.get("creator", {}).get("email") == viewer:
        out["creator"]["self"] = True
    if out.get("organizer", {}).get("email") == cal.id:
        out["organizer"]["self"] = True
    atts = out.get("attendees")
    if atts:
        for att in atts:
            if att["email"].lower() == cal.id.lower():
                att["self"] = True
        if max_attendees is not None and len(atts) > max_attendees:
            out["attendees"] = [a for a in atts if a.get("self")]
            out["attendeesOmitted"] = True
    return out


def is_busy_for(ev: StoredEvent, cal: Calendar) -> bool:
    """Whether an event blocks the calendar's time in freeBusy."""
    data = ev.data
    if data.get("status") == "cancelled" or data.get("transparency") == "transparent":
        return False
    for att in data.get("attendees", []):
        if att["email"].lower() == cal.id.lower() and att.get("responseStatus") == "declined":
            return False
    return True


# ---- push --------------------------------------------------------------------------
def notify_calendar(state: State, calendar_id: str, resource_state: str = "exists") -> None:
    now = state.now()
    for ch in state.channels.values():
        if ch.calendar_id == calendar_id and ch.live(now):
            state.queue_notification(channel_notification(ch, resource_state))


def channel_notification(ch, resource_state: str) -> Notification:
    ch.message_number += 1
    headers = {
        "X-Goog-Channel-ID": ch.id,
        "X-Goog-Channel-Expiration": timeutil.rfc1123(ch.expiration_ms / 1000),
        "X-Goog-Resource-ID": ch.resource_id,
        "X-Goog-Resource-URI": ch.resource_uri,
        "X-Goog-Resource-State": resource_state,
        "X-Goog-Message-Number": str(ch.message_number),
    }
    if ch.token:
        headers["X-Goog-Channel-Token"] = ch.token
    return Notification(channel_id=ch.id, address=ch.address, headers=headers,
                        calendar_id=ch.calendar_id, state=resource_state)
