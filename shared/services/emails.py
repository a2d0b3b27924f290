"""What each notification email says: subject, HTML and plain text, and the guest's .ics.

One HTML and one text template (shared/web/templates/email/) render every kind; what differs
between kinds and recipients (subject, heading, opening lines, buttons, attachment) is decided
here, in the recipient's language and time zone. Every value that a person typed (names, notes,
cancel reasons, titles) reaches the HTML only through Jinja2's autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.adapters import mail
from shared.config import settings
from shared.domain import ics
from shared.web import i18n
from shared.web.render import render

CONFIRMED = "confirmed"
RESCHEDULED = "rescheduled"
CANCELLED = "cancelled"
GUEST_DECLINED = "guest_declined"
REMINDER = "reminder"
FOLLOWUP = "followup"
RECONNECT_NEEDED = "reconnect_needed"

ORGANIZER = "organizer"
GUEST = "guest"
OWNER = "owner"

# Who receives which kind. Reminders go to the guest only: the organizer's own Google Calendar
# already reminds them with the same settings. A decline is news to the organizer only.
RECIPIENTS = {
    CONFIRMED: (ORGANIZER, GUEST),
    RESCHEDULED: (ORGANIZER, GUEST),
    CANCELLED: (ORGANIZER, GUEST),
    GUEST_DECLINED: (ORGANIZER,),
    REMINDER: (GUEST,),
    FOLLOWUP: (ORGANIZER, GUEST),
    RECONNECT_NEEDED: (OWNER,),
}
BOOKING_KINDS = (CONFIRMED, RESCHEDULED, CANCELLED, GUEST_DECLINED, REMINDER, FOLLOWUP)
# Guests get the buttons while the meeting is still ahead of them.
_GUEST_BUTTONS = (CONFIRMED, RESCHEDULED, REMINDER)
_ORGANIZER_BUTTONS = (CONFIRMED, RESCHEDULED)
# Only Google's own event pages become links (the event's htmlLink).
GOOGLE_EVENT_LINK = "https://www.google.com/calendar/event?"
# The guest's calendar entry is created or moved (REQUEST) or removed (CANCEL). The organizer
# gets no .ics: the booking already sits in their Google Calendar, and an invitation with a
# different UID would add a second entry there.
_GUEST_ICS = {CONFIRMED: ics.REQUEST, RESCHEDULED: ics.REQUEST, CANCELLED: ics.CANCEL}

i18n.register({
    # subjects
    "Confirmed: {title} with {organizer} on {date}": "Bestätigt: {title} mit {organizer} am {date}",
    "New booking: {title} with {guest} on {date}": "Neue Buchung: {title} mit {guest} am {date}",
    "Rescheduled: {title} with {organizer}, now on {date}":
        "Verschoben: {title} mit {organizer}, jetzt am {date}",
    "Rescheduled: {title} with {guest}, now on {date}":
        "Verschoben: {title} mit {guest}, jetzt am {date}",
    "Cancelled: {title} with {organizer} on {date}": "Abgesagt: {title} mit {organizer} am {date}",
    "Cancelled: {title} with {guest} on {date}": "Abgesagt: {title} mit {guest} am {date}",
    "Declined: {guest} declined {title} on {date}": "Abgelehnt: {guest} hat {title} am {date} abgelehnt",
    "Reminder: {title} with {organizer} {starts_in}":
        "Erinnerung: {title} mit {organizer} {starts_in}",
    "Thank you for meeting {organizer}": "Danke für Ihren Termin mit {organizer}",
    "Your meeting with {guest} has ended": "Ihr Termin mit {guest} ist vorbei",
    "Please reconnect your Google account {google_email}":
        "Bitte verbinden Sie Ihr Google-Konto {google_email} erneut",
    # headings
    "Your booking is confirmed": "Ihre Buchung ist bestätigt",
    "New booking": "Neue Buchung",
    "Your booking has a new time": "Ihr Termin wurde verschoben",
    "A booking has a new time": "Ein Termin wurde verschoben",
    "Your booking is cancelled": "Ihre Buchung wurde abgesagt",
    "A booking is cancelled": "Eine Buchung wurde abgesagt",
    "Your guest declined": "Ihr Gast hat abgelehnt",
    "Your meeting starts {starts_in}": "Ihr Termin beginnt {starts_in}",
    "Thank you for your time": "Danke für Ihre Zeit",
    "How did it go?": "Wie ist es gelaufen?",
    "Google Calendar needs you to reconnect": "Google Kalender muss neu verbunden werden",
    # opening lines
    "{organizer} has confirmed your booking. The attached invitation adds it to your calendar.":
        "{organizer} hat Ihre Buchung bestätigt. Mit der angehängten Einladung tragen Sie den "
        "Termin in Ihren Kalender ein.",
    "{guest} booked {title} with you. The event is in your Google Calendar.":
        "{guest} hat {title} bei Ihnen gebucht. Der Termin steht in Ihrem Google Kalender.",
    "Your booking with {organizer} has moved to a new time. The attached invitation updates "
    "your calendar.":
        "Ihre Buchung bei {organizer} wurde auf einen neuen Termin verschoben. Die angehängte "
        "Einladung aktualisiert Ihren Kalender.",
    "Your booking with {guest} has moved to a new time. Your Google Calendar is updated.":
        "Ihre Buchung mit {guest} wurde auf einen neuen Termin verschoben. Ihr Google Kalender "
        "ist aktualisiert.",
    "You cancelled your booking with {organizer}.": "Sie haben Ihre Buchung bei {organizer} abgesagt.",
    "{organizer} cancelled your booking.": "{organizer} hat Ihre Buchung abgesagt.",
    "The event was removed from {organizer}'s calendar, so your booking is cancelled.":
        "Der Termin wurde aus dem Kalender von {organizer} entfernt, daher ist Ihre Buchung "
        "abgesagt.",
    "{guest} cancelled the booking.": "{guest} hat die Buchung abgesagt.",
    "You cancelled the booking with {guest}.": "Sie haben die Buchung mit {guest} abgesagt.",
    "The event was deleted in Google Calendar, so the booking is cancelled.":
        "Der Termin wurde im Google Kalender gelöscht, daher ist die Buchung abgesagt.",
    "The attached cancellation removes it from your calendar.":
        "Die angehängte Absage entfernt den Termin aus Ihrem Kalender.",
    "{guest} declined the invitation in their calendar.":
        "{guest} hat die Einladung im eigenen Kalender abgelehnt.",
    "This is a reminder of your meeting with {organizer}.":
        "Dies ist eine Erinnerung an Ihren Termin mit {organizer}.",
    "Thank you for meeting {organizer}. We hope it went well.":
        "Danke für Ihren Termin mit {organizer}. Wir hoffen, er war hilfreich.",
    "Your meeting with {guest} has ended. Here are its details for your records.":
        "Ihr Termin mit {guest} ist vorbei. Hier sind die Details für Ihre Unterlagen.",
    "calbridge can no longer reach the Google account {google_email}: its access was revoked or "
    "has expired.":
        "calbridge kann nicht mehr auf das Google-Konto {google_email} zugreifen: Der Zugriff "
        "wurde widerrufen oder ist abgelaufen.",
    "Until you reconnect it, new bookings are not added to its calendars and its busy times are "
    "not checked.":
        "Bis Sie es neu verbinden, werden neue Buchungen nicht in seine Kalender eingetragen und "
        "seine belegten Zeiten nicht berücksichtigt.",
    # details and buttons
    "What": "Was",
    "When": "Wann",
    "Previously": "Vorher",
    "Duration": "Dauer",
    "Where": "Wo",
    "Organizer": "Organisator",
    "Guest": "Gast",
    "Notes": "Notizen",
    "Cancelled by": "Abgesagt von",
    "Reason": "Grund",
    "Google Calendar": "Google Kalender",
    "Join with Google Meet": "Mit Google Meet teilnehmen",
    "Reschedule": "Verschieben",
    "Cancel booking": "Buchung absagen",
    "Reconnect Google account": "Google-Konto neu verbinden",
    "Open in Google Calendar": "In Google Kalender öffnen",
    "Move or delete the event in Google Calendar: calbridge updates the booking and tells {guest}.":
        "Verschieben oder löschen Sie den Termin in Google Kalender: calbridge passt die Buchung "
        "an und informiert {guest}.",
    "Need a different time? Use the links above; there is no need to reply.":
        "Brauchen Sie eine andere Zeit? Nutzen Sie einfach die Links oben – eine Antwort ist "
        "nicht nötig.",
    "Sent by calbridge on behalf of {organizer}.": "Gesendet von calbridge im Auftrag von {organizer}.",
    "Sent by calbridge.": "Gesendet von calbridge.",
    "Meeting": "Termin",
    "now": "jetzt",
})


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    language: str
    timezone: str


def person(data: dict, fallback_timezone: str = "UTC") -> Person:
    tz = data.get("timezone") or fallback_timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = "UTC"
    return Person(
        name=data.get("name") or data.get("email", ""),
        email=data["email"],
        language=i18n.normalize(data.get("language")),
        timezone=tz,
    )


def recipient(booking: dict, role: str) -> Person:
    """The organizer or guest of a booking; a guest without a zone reads the organizer's."""
    fallback = booking["organizer"].get("timezone") or "UTC"
    return person(booking[role], fallback)


# ---- formatting in the reader's language and zone -------------------------------------------

def duration(minutes: int, lang: str) -> str:
    """Exact, e.g. "1 hour, 30 minutes" (Babel's timedelta format would round to "2 hours")."""
    from babel.lists import format_list
    from babel.units import format_unit

    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(format_unit(hours, "duration-hour", length="long", locale=lang))
    if rest or not hours:
        parts.append(format_unit(rest, "duration-minute", length="long", locale=lang))
    return format_list(parts, style="unit", locale=lang)


def starts_in(minutes: int, lang: str) -> str:
    """e.g. "in 1 day", "in 90 minutes" / "in 90 Minuten": exact, in the largest whole unit."""
    from babel.dates import format_timedelta

    if minutes <= 0:
        return i18n.gettext(lang, "now")
    unit = "day" if minutes % 1440 == 0 else "hour" if minutes % 60 == 0 else "minute"
    # A huge threshold makes Babel stop at `unit` instead of rounding up to a larger one.
    return format_timedelta(timedelta(minutes=minutes), granularity=unit, threshold=10**9,
                            add_direction=True, locale=lang)


# ---- rendering --------------------------------------------------------------------------------

def render_email(kind: str, role: str, to: Person, *, booking: dict | None = None,
                 data: dict | None = None, custom_args: dict | None = None) -> mail.Email:
    """The email of `kind` for the recipient `to` (in `role`), ready for the mail adapter."""
    data = data or {}
    lang = to.language
    context = (_booking_context(kind, role, to, booking, data) if booking is not None
               else _account_context(kind, to, data))
    html = render("email/message.html", lang, **context)
    text = render("email/message.txt", lang, **context)
    attachments: tuple[mail.Attachment, ...] = ()
    if booking is not None and role == GUEST and kind in _GUEST_ICS:
        method = _GUEST_ICS[kind]
        attachments = (mail.Attachment(
            filename="invite.ics" if method == ics.REQUEST else "cancel.ics",
            content=ics.invitation(booking, method, title=context["title"],
                                   description=booking.get("notes") or ""),
            type=ics.content_type(method),
        ),)
    reply_to = _reply_to(booking, role) if booking is not None else None
    return mail.Email(
        to_email=to.email,
        to_name=to.name,
        subject=context["subject"],
        text=text,
        html=html,
        reply_to_email=reply_to.email if reply_to else None,
        reply_to_name=reply_to.name if reply_to else None,
        attachments=attachments,
        custom_args=custom_args or {},
        categories=("calbridge", kind),
    )


def _reply_to(booking: dict, role: str) -> Person | None:
    # A reply reaches the other side of the booking rather than our sending address.
    other = {ORGANIZER: GUEST, GUEST: ORGANIZER}.get(role)
    return recipient(booking, other) if other else None


def _booking_context(kind: str, role: str, to: Person, booking: dict, data: dict) -> dict:
    lang, tz = to.language, to.timezone

    def _(message: str, **values) -> str:
        return i18n.gettext(lang, message, **values)

    organizer, guest = recipient(booking, ORGANIZER), recipient(booking, GUEST)
    title = booking.get("title") or _("Meeting")
    start, end = booking["start"], booking["end"]
    names = {"title": title, "organizer": organizer.name, "guest": guest.name,
             "date": i18n.format_datetime(start, tz, lang, "medium")}
    to_guest = role == GUEST
    if (kind, role) not in _TEXTS:
        raise ValueError(f"no {kind} email for the {role}")
    subject, heading, line = _TEXTS[kind, role]
    if kind == CANCELLED:
        line = _cancel_line(booking.get("cancelled_by"), to_guest)
    names["starts_in"] = starts_in(int(data.get("minutes") or 0), lang)
    subject, heading = _(subject, **names), _(heading, **names)
    lines = [_(line, **names)]
    if kind == CANCELLED and to_guest:
        lines.append(_("The attached cancellation removes it from your calendar."))

    meet_link = (booking.get("google") or {}).get("meet_link") or ""
    location = booking.get("location") or ""
    previous = booking.get("previous") or {}
    details = {
        "title": title,
        "when": i18n.format_range(start, end, tz, lang),
        "previous": (i18n.format_range(previous["start"], previous["end"], tz, lang)
                     if kind == RESCHEDULED and previous.get("start") else None),
        "duration": duration(int((end - start).total_seconds() // 60), lang),
        "meet_link": meet_link if meet_link.startswith("https://") else "",
        "location": location if location != "google_meet" else "",
        "organizer": organizer,
        "guest": guest,
        "notes": booking.get("notes") or "",
        "cancelled_by": ({GUEST: guest.name, ORGANIZER: organizer.name,
                          "google": _("Google Calendar")}.get(booking.get("cancelled_by") or "", "")
                         if kind == CANCELLED else ""),
        "cancel_reason": (booking.get("cancel_reason") or "") if kind == CANCELLED else "",
    }
    buttons, hint = [], ""
    if to_guest and kind in _GUEST_BUTTONS:
        from shared.services import guest_links  # written alongside bookings; imported on use

        buttons = [
            {"label": _("Reschedule"), "url": guest_links.reschedule_url(booking), "primary": True},
            {"label": _("Cancel booking"), "url": guest_links.cancel_url(booking),
             "primary": False},
        ]
        hint = _("Need a different time? Use the links above; there is no need to reply.")
    event_link = (booking.get("google") or {}).get("html_link") or ""
    if not to_guest and kind in _ORGANIZER_BUTTONS and event_link.startswith(GOOGLE_EVENT_LINK):
        # The organizer manages a booking where it lives: what they change there reaches
        # calbridge (two-way sync), which updates the booking and tells the guest.
        buttons = [{"label": _("Open in Google Calendar"), "url": event_link, "primary": True}]
        hint = _("Move or delete the event in Google Calendar: calbridge updates the booking "
                 "and tells {guest}.", **names)
    return {
        "subject": subject,
        "heading": heading,
        "lines": lines,
        "title": title,
        "details": details,
        "buttons": buttons,
        "buttons_hint": hint,
        "footer": _("Sent by calbridge on behalf of {organizer}.", **names),
    }


# (kind, role) -> subject, heading, opening line; {names} are filled in after translation.
# A cancellation's opening line depends on who cancelled (_cancel_line).
_TEXTS = {
    (CONFIRMED, GUEST): (
        "Confirmed: {title} with {organizer} on {date}", "Your booking is confirmed",
        "{organizer} has confirmed your booking. The attached invitation adds it to your calendar."),
    (CONFIRMED, ORGANIZER): (
        "New booking: {title} with {guest} on {date}", "New booking",
        "{guest} booked {title} with you. The event is in your Google Calendar."),
    (RESCHEDULED, GUEST): (
        "Rescheduled: {title} with {organizer}, now on {date}", "Your booking has a new time",
        "Your booking with {organizer} has moved to a new time. The attached invitation updates "
        "your calendar."),
    (RESCHEDULED, ORGANIZER): (
        "Rescheduled: {title} with {guest}, now on {date}", "A booking has a new time",
        "Your booking with {guest} has moved to a new time. Your Google Calendar is updated."),
    (CANCELLED, GUEST): (
        "Cancelled: {title} with {organizer} on {date}", "Your booking is cancelled", ""),
    (CANCELLED, ORGANIZER): (
        "Cancelled: {title} with {guest} on {date}", "A booking is cancelled", ""),
    (GUEST_DECLINED, ORGANIZER): (
        "Declined: {guest} declined {title} on {date}", "Your guest declined",
        "{guest} declined the invitation in their calendar."),
    (REMINDER, GUEST): (
        "Reminder: {title} with {organizer} {starts_in}", "Your meeting starts {starts_in}",
        "This is a reminder of your meeting with {organizer}."),
    (FOLLOWUP, GUEST): (
        "Thank you for meeting {organizer}", "Thank you for your time",
        "Thank you for meeting {organizer}. We hope it went well."),
    (FOLLOWUP, ORGANIZER): (
        "Your meeting with {guest} has ended", "How did it go?",
        "Your meeting with {guest} has ended. Here are its details for your records."),
}


def _cancel_line(cancelled_by: str | None, to_guest: bool) -> str:
    if cancelled_by == GUEST:
        return ("You cancelled your booking with {organizer}." if to_guest
                else "{guest} cancelled the booking.")
    if cancelled_by == "google":
        return ("The event was removed from {organizer}'s calendar, so your booking is cancelled."
                if to_guest else
                "The event was deleted in Google Calendar, so the booking is cancelled.")
    return "{organizer} cancelled your booking." if to_guest else "You cancelled the booking with {guest}."


def _account_context(kind: str, to: Person, data: dict) -> dict:
    if kind != RECONNECT_NEEDED:
        raise ValueError(f"email kind {kind!r} needs a booking")

    def _(message: str, **values) -> str:
        return i18n.gettext(to.language, message, **values)

    google_email = data.get("google_email", "")
    return {
        "subject": _("Please reconnect your Google account {google_email}",
                     google_email=google_email),
        "heading": _("Google Calendar needs you to reconnect"),
        "lines": [
            _("calbridge can no longer reach the Google account {google_email}: its access was "
              "revoked or has expired.", google_email=google_email),
            _("Until you reconnect it, new bookings are not added to its calendars and its busy "
              "times are not checked."),
        ],
        "title": "",
        "details": None,
        "buttons": [{"label": _("Reconnect Google account"),
                     "url": data.get("reconnect_url") or f"{settings().oauth_url}/integrations",
                     "primary": True}],
        "buttons_hint": "",
        "footer": _("Sent by calbridge."),
    }
