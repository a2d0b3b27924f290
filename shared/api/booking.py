"""HTTP routes of the booking function (functions/booking/main.py dispatches here).

JSON API
- members (API key or session): event types CRUD, the organizer's bookings (list, cancel,
  reschedule); forms and automations (`POST /api/events`) are owner-only, like every Google
  action an owner configures.
- public: an event type's page data, its free slots and booking it.
Pages (public, no JavaScript needed): the booking page, its confirmation, and the guest's
cancel and reschedule pages reached through the signed links of the guest emails.

Services are imported inside the handlers: they pull in pydantic and Google clients, which
the function's cold start should not pay for on a health check.
"""

from __future__ import annotations

import functools
import secrets as _secrets
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from flask import Request, Response

from shared import errors
from shared.web import auth, i18n
from shared.web.http import Router, read_json
from shared.web.pages import error_page, page, redirect

router = Router("booking")

MAX_RANGE_DAYS = 62
PICKER_DAYS = 7
IDEMPOTENCY_HEADER = "Idempotency-Key"
FORM_FIELDS = ("start", "name", "email", "notes", "tz", "request_id")
# What a guest can fix in the booking form, in their words rather than the validator's.
FIELD_PROBLEMS = {
    "name": "Please enter your name (one line, at most 200 characters).",
    "email": "Please enter a valid email address, like name@example.com.",
    "notes": "Please shorten your notes to at most 2000 characters.",
}

i18n.register({
    "Book a time": "Termin buchen",
    "{minutes} minutes": "{minutes} Minuten",
    "Google Meet video call": "Videoanruf mit Google Meet",
    "with {organizer}": "mit {organizer}",
    "Times are shown in": "Zeiten werden angezeigt in der Zeitzone",
    "It is {time} there now.": "Dort ist es jetzt {time} Uhr.",
    "Time zone": "Zeitzone",
    "Show times": "Zeiten anzeigen",
    "Choose a day": "Tag wählen",
    "Earlier days": "Frühere Tage",
    "Later days": "Spätere Tage",
    "{count} free times": "{count} freie Zeiten",
    "1 free time": "1 freie Zeit",
    "{count} times": "{count} Zeiten",
    "1 time": "1 Zeit",
    "no times": "keine Zeiten",
    "no free time": "keine freie Zeit",
    "No free times on these days. Please look at later days.":
        "An diesen Tagen gibt es keine freien Zeiten. Bitte sehen Sie sich spätere Tage an.",
    "Free times on {day}": "Freie Zeiten am {day}",
    "Your details": "Ihre Angaben",
    "Name": "Name",
    "Email": "E-Mail",
    "Notes (optional)": "Notizen (optional)",
    "Anything that helps prepare the meeting.": "Alles, was bei der Vorbereitung hilft.",
    "Book": "Buchen",
    "Please choose a time.": "Bitte wählen Sie eine Zeit.",
    "Please enter your name (one line, at most 200 characters).":
        "Bitte geben Sie Ihren Namen ein (eine Zeile, höchstens 200 Zeichen).",
    "Please enter a valid email address, like name@example.com.":
        "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.com.",
    "Please shorten your notes to at most 2000 characters.":
        "Bitte kürzen Sie Ihre Notizen auf höchstens 2000 Zeichen.",
    "You are booked": "Ihr Termin ist gebucht",
    "This booking was cancelled": "Diese Buchung wurde abgesagt",
    "When": "Wann",
    "What": "Was",
    "With": "Mit",
    "Where": "Wo",
    "Previously": "Vorher",
    "Join with Google Meet": "Mit Google Meet teilnehmen",
    "A confirmation email is on its way to {email}.":
        "Wir senden Ihnen eine Bestätigung an {email}.",
    "The email has a calendar invitation and links to reschedule or cancel.":
        "Die E-Mail enthält eine Kalendereinladung und Links zum Verschieben oder Absagen.",
    "Reschedule": "Verschieben",
    "Cancel booking": "Buchung absagen",
    "Add to my calendar (.ics)": "In meinen Kalender übernehmen (.ics)",
    "Cancel your booking": "Buchung absagen",
    "Do you really want to cancel this booking?": "Möchten Sie diese Buchung wirklich absagen?",
    "Reason (optional)": "Grund (optional)",
    "{name} will see it in the cancellation email.":
        "{name} sieht ihn in der E-Mail zur Absage.",
    "Yes, cancel the booking": "Ja, Buchung absagen",
    "No, keep the booking": "Nein, Buchung behalten",
    "Your booking has been cancelled": "Ihre Buchung wurde abgesagt",
    "You and {name} will each receive an email about the cancellation.":
        "Sie und {name} erhalten je eine E-Mail zur Absage.",
    "Book a new time": "Neuen Termin buchen",
    "Choose a new time": "Neue Zeit wählen",
    "Currently booked: {when}": "Derzeit gebucht: {when}",
    "Move the booking": "Buchung verschieben",
    "Your booking has been moved": "Ihre Buchung wurde verschoben",
    "You and {name} will each receive an email with the new time.":
        "Sie und {name} erhalten je eine E-Mail mit der neuen Zeit.",
    "Your current time stays booked until you choose a new one.":
        "Ihre bisherige Zeit bleibt gebucht, bis Sie eine neue wählen.",
    "That time was just taken. Please choose another one.":
        "Diese Zeit wurde gerade vergeben. Bitte wählen Sie eine andere.",
    "slot no longer available": "Zeit nicht mehr verfügbar",
    "this booking page does not exist": "Diese Buchungsseite gibt es nicht",
    "this booking page is not available": "Diese Buchungsseite ist nicht verfügbar",
    "This link is not valid. Please use the link from your latest email.":
        "Dieser Link ist ungültig. Bitte verwenden Sie den Link aus Ihrer neuesten E-Mail.",
    "This link has expired.": "Dieser Link ist abgelaufen.",
    "This booking has already been cancelled.": "Diese Buchung wurde bereits abgesagt.",
    "This booking has been changed since this link was sent. Please use the link from your "
    "latest email.": "Diese Buchung wurde geändert, seit dieser Link verschickt wurde. Bitte "
                     "verwenden Sie den Link aus Ihrer neuesten E-Mail.",
    "This meeting has already started, so it can no longer be changed.":
        "Dieser Termin hat bereits begonnen und kann nicht mehr geändert werden.",
    "We could not create the calendar event, so nothing was booked. Please try again in a few "
    "minutes.": "Der Kalendertermin konnte nicht angelegt werden, daher wurde nichts gebucht. "
                "Bitte versuchen Sie es in ein paar Minuten erneut.",
    "Google could not report whether the organizer is free; no times are offered until every "
    "calendar checked for conflicts can be read. Please try again later.":
        "Google konnte nicht melden, ob der Organisator frei ist; bis alle Kalender geprüft "
        "werden können, werden keine Zeiten angeboten. Bitte versuchen Sie es später erneut.",
})


def _page_error(request: Request, exc: errors.AppError):
    return error_page(request, exc)


router.page_errors(_page_error)


# --- input helpers ---------------------------------------------------------------------------


def _zone(name: str | None, default: str) -> str:
    from shared.services.members import validate_timezone

    return validate_timezone(name.strip()) if name and name.strip() else default


def _in_years(value: date, name: str) -> None:
    from shared.domain.timeranges import YEARS, within_years

    if not within_years(value):
        raise errors.InvalidInput(f"{name} must be in the years {YEARS[0]} to {YEARS[1]}")


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise errors.InvalidInput(f"{name} must be a date like 2026-03-09") from None
    _in_years(parsed, name)
    return parsed


def _instant(value, name: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise errors.InvalidInput(f"{name} is required: an ISO 8601 time with offset, "
                                  "like 2026-03-09T09:00:00+01:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidInput(f"{name} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise errors.InvalidInput(f"{name} needs a UTC offset or Z, like 2026-03-09T08:00:00Z")
    _in_years(parsed, name)
    return parsed.astimezone(timezone.utc)


def _idempotency_key(request: Request, fallback: str | None = None) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER) or fallback
    if key and len(key) > 200:
        raise errors.InvalidInput(f"{IDEMPOTENCY_HEADER} is too long (at most 200 characters)")
    return key or None


def _day_range(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(), tzinfo=zone).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(timezone.utc)
    return start, end


def _iso(value, tz: str | None = None):
    if isinstance(value, datetime):
        return (value.astimezone(ZoneInfo(tz)) if tz else value.astimezone(timezone.utc)).isoformat()
    if isinstance(value, dict):
        return {k: _iso(v, tz) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v, tz) for v in value]
    return value


_INTERNAL = ("claims", "hold_until", "idempotency_key", "block_start", "block_end")


def _organizer_view(booking: dict) -> dict:
    return _iso({k: v for k, v in booking.items() if k not in _INTERNAL})


def _guest_view(booking: dict) -> dict:
    tz = booking["guest"].get("timezone") or "UTC"
    view = {
        "id": booking["id"], "status": booking["status"], "title": booking["title"],
        "start": booking["start"], "end": booking["end"], "timezone": tz,
        "meet_link": booking["google"].get("meet_link"),
        "guest": {"name": booking["guest"]["name"], "email": booking["guest"]["email"]},
        "organizer": {"name": booking["organizer"]["name"]},
    }
    if booking["status"] == "confirmed":
        view.update({f"{name}_url": url for name, url in _guest_links(booking).items()})
    return _iso(view, tz)


# --- event types (members) -------------------------------------------------------------------


@router.api("/api/event-types", methods=("GET",))
def list_event_types(request: Request):
    from shared.services import event_types

    member = auth.require_member(request)
    return {"event_types": _iso(event_types.list_for_account(member.account_id))}


@router.api("/api/event-types", methods=("POST",))
def create_event_type(request: Request):
    from shared.services import event_types

    member = auth.require_member(request)
    return _iso(event_types.create(member.account_id, read_json(request))), 201


@router.api("/api/event-types/<event_type_id>", methods=("GET",))
def get_event_type(request: Request, event_type_id: str):
    from shared.services import event_types

    member = auth.require_member(request)
    return _iso(event_types.get(member.account_id, event_type_id))


@router.api("/api/event-types/<event_type_id>", methods=("PATCH",))
def update_event_type(request: Request, event_type_id: str):
    from shared.services import event_types

    member = auth.require_member(request)
    return _iso(event_types.update(member.account_id, event_type_id, read_json(request)))


@router.api("/api/event-types/<event_type_id>", methods=("DELETE",))
def delete_event_type(request: Request, event_type_id: str):
    from shared.services import event_types

    member = auth.require_member(request)
    event_types.delete(member.account_id, event_type_id)
    return {"deleted": event_type_id}


# --- bookings (organizer) --------------------------------------------------------------------


@router.api("/api/bookings", methods=("GET",))
def list_bookings(request: Request):
    from shared.services import bookings

    member = auth.require_member(request)
    today = datetime.now(timezone.utc).date()
    first = _date(request.args.get("from"), "from") or today
    last = _date(request.args.get("to"), "to") or first + timedelta(days=30)
    if last < first or (last - first).days > 366:
        raise errors.InvalidInput("to must be on or after from, at most 366 days later")
    status = request.args.get("status")
    if status not in (None, bookings.CONFIRMED, bookings.CANCELLED):
        raise errors.InvalidInput("status must be confirmed or cancelled")
    start, end = _day_range(first, last, "UTC")
    found = bookings.list_for_account(member.account_id, start=start, end=end, status=status)
    return {"bookings": [_organizer_view(b) for b in found]}


@router.api("/api/bookings/<booking_id>", methods=("GET",))
def get_booking(request: Request, booking_id: str):
    from shared.services import bookings

    member = auth.require_member(request)
    return _organizer_view(bookings.get(member.account_id, booking_id))


@router.api("/api/bookings/<booking_id>/cancel", methods=("POST",))
def cancel_booking(request: Request, booking_id: str):
    from shared.services import bookings

    member = auth.require_member(request)
    body = read_json(request) if request.data else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise errors.InvalidInput("reason must be text")
    return _organizer_view(bookings.cancel(member.account_id, booking_id, by="organizer",
                                           reason=reason))


@router.api("/api/bookings/<booking_id>/reschedule", methods=("POST",))
def reschedule_booking(request: Request, booking_id: str):
    from shared.services import bookings

    member = auth.require_member(request)
    body = read_json(request)
    start = _instant(body.get("start"), "start")
    end = _instant(body["end"], "end") if body.get("end") else None
    return _organizer_view(bookings.reschedule(member.account_id, booking_id, start, end,
                                               by="organizer"))


@router.api("/api/events", methods=("POST",))
def create_event(request: Request):
    """Forms and automations: an event with Meet in the default calendar (owner only)."""
    from shared.services import bookings

    member = auth.require_member(request, owner=True)
    body = read_json(request)
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise errors.InvalidInput("title is required (1-200 characters)")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 5000:
        raise errors.InvalidInput("description must be text of at most 5000 characters")
    attendee = body.get("attendee")
    if not isinstance(attendee, dict):
        raise errors.InvalidInput("attendee is required: {\"email\": ..., \"name\": ...}")
    from shared.web.http import parse_model

    guest = parse_model(bookings.GuestIn, {"name": attendee.get("name") or attendee.get("email"),
                                           **{k: v for k, v in attendee.items() if k != "name"}})
    booking = bookings.create_event(
        member.account_id, title=title.strip(), description=description,
        start=_instant(body.get("start"), "start"), end=_instant(body.get("end"), "end"),
        attendee=guest, meet=body.get("meet", True) is not False,
        idempotency_key=_idempotency_key(request))
    return _organizer_view(booking), 201


# --- public JSON -----------------------------------------------------------------------------


def _public_event_type(event_type: dict) -> dict:
    keys = ("id", "account_id", "slug", "title", "description", "duration_minutes", "location",
            "timezone")
    return {k: event_type.get(k) for k in keys}


@router.api("/api/public/<account_id>/<slug>", methods=("GET",))
def public_event_type(request: Request, account_id: str, slug: str):
    from shared.services import event_types

    return _public_event_type(event_types.by_slug(account_id, slug))


@router.api("/api/public/<account_id>/<slug>/slots", methods=("GET",))
def public_slots(request: Request, account_id: str, slug: str):
    from shared.services import availability, organizer

    org = organizer.load(account_id, slug=slug)
    event_type = org.event_type
    tz = _zone(request.args.get("timezone"), event_type["timezone"])
    today = datetime.now(ZoneInfo(tz)).date()
    first = _date(request.args.get("from"), "from") or today
    last = _date(request.args.get("to"), "to") or first + timedelta(days=6)
    if last < first or (last - first).days >= MAX_RANGE_DAYS:
        raise errors.InvalidInput(f"to must be on or after from, at most {MAX_RANGE_DAYS} days")
    start, end = _day_range(first, last, tz)
    found = availability.slots(org, start, end)
    duration = timedelta(minutes=event_type["duration_minutes"])
    return {"timezone": tz, "from": first.isoformat(), "to": last.isoformat(),
            "duration_minutes": event_type["duration_minutes"],
            "slots": [{"start": _iso(s, tz), "end": _iso(s + duration, tz)} for s in found]}


@router.api("/api/public/<account_id>/<slug>/bookings", methods=("POST",))
def public_book(request: Request, account_id: str, slug: str):
    from shared.services import bookings, organizer
    from shared.web.http import parse_model

    key = _idempotency_key(request)
    org = organizer.load(account_id, slug=slug, also=bookings.booking_refs(account_id, key))
    event_type = org.event_type
    body = read_json(request)
    guest = parse_model(bookings.GuestIn, {
        "name": body.get("name"), "email": body.get("email"),
        "timezone": body.get("timezone") or event_type["timezone"],
        "language": body.get("language") or "en"})
    notes = body.get("notes") or ""
    if not isinstance(notes, str):
        raise errors.InvalidInput("notes must be text")
    booking = bookings.book(org, start=_instant(body.get("start"), "start"), guest=guest,
                            notes=notes, idempotency_key=key)
    return _guest_view(booking), 201


# --- pages -----------------------------------------------------------------------------------


@functools.cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones()
                        if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "posix/",
                                                          "right/"))) + ["UTC"])


def _picker(request: Request, org, tz: str, lang: str, *, exclude: dict | None = None) -> dict:
    """Days with their free times for the day picker: PICKER_DAYS from ?start, one chosen day."""
    from shared.services import availability

    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    first = max(_date(request.args.get("from"), "from") or today, today)
    last = first + timedelta(days=PICKER_DAYS - 1)
    start, end = _day_range(first, last, tz)
    found = availability.slots(org, start, end, exclude=exclude)
    by_day: dict[date, list[datetime]] = {first + timedelta(days=i): [] for i in range(PICKER_DAYS)}
    for slot in found:
        by_day[slot.astimezone(zone).date()].append(slot)
    chosen = _date(request.args.get("day"), "day")
    if chosen not in by_day or not by_day[chosen]:
        chosen = next((d for d, s in by_day.items() if s), None)

    def label(day: date, fmt: str = "date") -> str:
        return i18n.format_datetime(datetime.combine(day, time(12), tzinfo=zone), tz, lang, fmt)

    return {
        "tz": tz, "zones": _zone_names(), "first": first.isoformat(),
        "zone_name": i18n.zone_name(tz, lang),
        "now": i18n.format_datetime(datetime.now(timezone.utc), tz, lang, "time"),
        "days": [{"iso": d.isoformat(), "label": label(d), "weekday": label(d, "day"),
                  "short": label(d, "short_date"), "count": len(s), "current": d == chosen}
                 for d, s in by_day.items()],
        "chosen": label(chosen) if chosen else None,
        "slots": [{"value": s.isoformat(), "label": i18n.format_datetime(s, tz, lang, "time")}
                  for s in by_day.get(chosen, [])],
        "earlier": (first - timedelta(days=PICKER_DAYS)).isoformat() if first > today else None,
        "later": (last + timedelta(days=1)).isoformat(),
    }


def _query(**params) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


def _booking_page(request: Request, org, *, form: dict | None = None,
                  error: str | None = None, invalid: str | None = None, status: int = 200):
    event_type = org.event_type
    lang = i18n.negotiate(request)
    form = {**dict.fromkeys(FORM_FIELDS, ""), **(form or {})}
    chosen_zone = request.args.get("tz") or form["tz"]
    tz = _zone(chosen_zone, event_type["timezone"])
    return page(request, "booking_page.html", status=status, event_type=event_type,
                picker=_picker(request, org, tz, lang), form=form, error=error,
                request_id=form["request_id"] or _secrets.token_urlsafe(16),
                action=request.path, query=_query, language=lang,
                organizer=org.account.get("name") or "",
                invalid=invalid,
                # Only a first look guesses the guest's zone: a form shown again after an
                # error must not reload and lose what they typed.
                detect_zone=not chosen_zone and request.method == "GET")


@router.page("/book/<account_id>/<slug>", methods=("GET",))
def booking_page(request: Request, account_id: str, slug: str):
    from shared.services import organizer

    return _booking_page(request, organizer.load(account_id, slug=slug))


@router.page("/book/<account_id>/<slug>", methods=("POST",))
def booking_submit(request: Request, account_id: str, slug: str):
    from shared.services import bookings, guest_links, organizer
    from shared.web.http import parse_model

    form = {k: request.form.get(k, "") for k in FORM_FIELDS}
    key = form["request_id"] or None
    org = organizer.load(account_id, slug=slug, also=bookings.booking_refs(account_id, key))
    event_type = org.event_type
    lang = i18n.negotiate(request)
    try:
        if not form["start"]:
            raise errors.InvalidInput(i18n.gettext(lang, "Please choose a time."))
        tz = _zone(form["tz"], event_type["timezone"])
        guest = parse_model(bookings.GuestIn, {"name": form["name"], "email": form["email"],
                                               "timezone": tz, "language": lang})
        booking = bookings.book(org, start=_instant(form["start"], "start"), guest=guest,
                                notes=form["notes"], idempotency_key=key)
    except errors.SlotUnavailable:
        return _booking_page(request, org, form=form, status=409, error=i18n.gettext(
            lang, "That time was just taken. Please choose another one."))
    except (errors.InvalidInput, errors.Conflict, errors.UpstreamUnavailable) as exc:
        # The guest's input stays in the form; only the reason is added, at the field to fix.
        field = _form_problem(exc)
        return _booking_page(request, org, form=form, status=exc.status, invalid=field,
                             error=i18n.gettext(lang, FIELD_PROBLEMS[field] if field
                                                else exc.message))
    return redirect(guest_links.view_url(booking))


def _form_problem(exc: errors.AppError) -> str | None:
    """The form field a validation error is about ("email: value is not ..."), if the guest
    can fix it."""
    field = exc.message.split(":", 1)[0].strip()
    return field if exc.code == "validation_failed" and field in FIELD_PROBLEMS else None


def _details(booking: dict, lang: str, *, moved: bool = False) -> dict:
    tz = booking["guest"].get("timezone") or "UTC"
    previous = booking.get("previous") or {}
    return {"title": booking["title"], "tz": tz,
            "when": i18n.format_range(booking["start"], booking["end"], tz, lang),
            "previous": (i18n.format_range(previous["start"], previous["end"], tz, lang)
                         if moved and previous.get("start") else None),
            "organizer": booking["organizer"]["name"],
            # A cancelled meeting shows no way to join it.
            "meet_link": booking["google"].get("meet_link") if booking["status"] == "confirmed"
            else None,
            "location": booking.get("location") if booking["status"] == "confirmed" else None}


@router.page("/b/view/<token>", methods=("GET",))
def booking_confirmed(request: Request, token: str):
    from shared.services import guest_links

    booking = guest_links.resolve(token, guest_links.VIEW)
    lang = i18n.negotiate(request)
    links = _guest_links(booking) if booking["status"] == "confirmed" else {}
    return page(request, "booking_confirmed.html", booking=booking,
                details=_details(booking, lang), links=links)


def _guest_links(booking: dict) -> dict:
    from shared.services import guest_links

    return {"cancel": guest_links.cancel_url(booking),
            "reschedule": guest_links.reschedule_url(booking),
            "calendar_file": guest_links.calendar_file_url(booking)}


@router.page("/b/view/<token>/calendar.ics", methods=("GET",))
def booking_calendar_file(request: Request, token: str):
    """The booking as a file for the guest's own calendar; same UID and SEQUENCE as the
    emailed invitation, so a calendar holding both keeps one entry."""
    from shared.domain import ics
    from shared.services import guest_links

    booking = guest_links.resolve(token, guest_links.VIEW)
    if booking["status"] != "confirmed":
        raise errors.Gone("This booking was cancelled.", code="booking_cancelled")
    body = ics.invitation(booking, ics.PUBLISH, title=booking["title"],
                          description=booking.get("notes") or "")
    return Response(body, content_type=ics.content_type(ics.PUBLISH),
                    headers={"Content-Disposition": 'attachment; filename="booking.ics"'})


@router.page("/b/cancel/<token>", methods=("GET",))
def cancel_page(request: Request, token: str):
    from shared.services import guest_links

    booking = guest_links.resolve(token, guest_links.CANCEL)
    return page(request, "booking_cancel.html", booking=booking, done=False,
                details=_details(booking, i18n.negotiate(request)), action=request.full_path,
                keep=guest_links.view_url(booking))


@router.page("/b/cancel/<token>", methods=("POST",))
def cancel_submit(request: Request, token: str):
    from shared.services import bookings, guest_links

    booking = guest_links.resolve(token, guest_links.CANCEL)
    reason = request.form.get("reason", "")
    cancelled = bookings.cancel(booking["account_id"], booking["id"], by="guest", reason=reason)
    book_again = None
    if cancelled.get("event_type_slug"):
        book_again = f"/book/{cancelled['account_id']}/{cancelled['event_type_slug']}"
    return page(request, "booking_cancel.html", booking=cancelled, done=True,
                details=_details(cancelled, i18n.negotiate(request)), book_again=book_again)


def _reschedule_target(booking: dict):
    """The organizer with the booking's event type, whose slots the guest may move to."""
    from shared.services import organizer

    if not booking.get("event_type_id"):
        raise errors.Gone("This booking cannot be moved here; please contact the organizer.",
                          code="not_reschedulable")
    return organizer.load(booking["account_id"], event_type_id=booking["event_type_id"])


@router.page("/b/reschedule/<token>", methods=("GET",))
def reschedule_page(request: Request, token: str, *, error: str | None = None,
                    status: int = 200):
    from shared.services import guest_links

    booking = guest_links.resolve(token, guest_links.RESCHEDULE)
    org = _reschedule_target(booking)
    event_type = org.event_type
    lang = i18n.negotiate(request)
    tz = _zone(request.args.get("tz"), booking["guest"].get("timezone") or event_type["timezone"])
    return page(request, "booking_reschedule.html", status=status, booking=booking,
                event_type=event_type, details=_details(booking, lang), error=error,
                picker=_picker(request, org, tz, lang, exclude=booking), done=False,
                action=request.path, query=_query)


@router.page("/b/reschedule/<token>", methods=("POST",))
def reschedule_submit(request: Request, token: str):
    from shared.services import bookings, guest_links

    booking = guest_links.resolve(token, guest_links.RESCHEDULE)
    event_type = _reschedule_target(booking).event_type
    lang = i18n.negotiate(request)
    try:
        if not request.form.get("start"):
            raise errors.InvalidInput(i18n.gettext(lang, "Please choose a time."))
        moved = bookings.reschedule(booking["account_id"], booking["id"],
                                    _instant(request.form["start"], "start"), by="guest",
                                    event_type=event_type)
    except errors.SlotUnavailable:
        return reschedule_page(request, token, status=409, error=i18n.gettext(
            lang, "That time was just taken. Please choose another one."))
    except (errors.InvalidInput, errors.UpstreamUnavailable) as exc:
        return reschedule_page(request, token, status=exc.status,
                               error=i18n.gettext(lang, exc.message))
    return page(request, "booking_reschedule.html", booking=moved, done=True,
                details=_details(moved, lang, moved=True), links=_guest_links(moved))
