"""The .ics attached to guest emails and offered on the booking page (RFC 5545, iTIP methods of
RFC 5546: REQUEST and CANCEL in emails, PUBLISH for the file a guest adds to a calendar).

Mail clients match an invitation to the calendar entry they already have by UID and keep the
version with the highest SEQUENCE, so the UID never changes for a booking and SEQUENCE is the
booking's own sequence, which every change (reschedule, cancel) increases.
"""

from __future__ import annotations

from datetime import datetime, timezone

REQUEST = "REQUEST"
CANCEL = "CANCEL"
PUBLISH = "PUBLISH"
PRODID = "-//calbridge//bookings//EN"


def uid(booking: dict) -> str:
    return f"{booking['id']}@calbridge"


def content_type(method: str) -> str:
    # The MIME method parameter must match METHOD inside the file. SendGrid refuses any other
    # parameter on an attachment type (charset included); iCalendar's default charset is UTF-8.
    return f"text/calendar; method={method}"


def invitation(booking: dict, method: str, *, title: str, description: str = "",
               now: datetime | None = None) -> bytes:
    """The booking as a VCALENDAR with one VEVENT, for `method` REQUEST, CANCEL or PUBLISH."""
    import icalendar

    if method not in (REQUEST, CANCEL, PUBLISH):
        raise ValueError(f"unsupported iTIP method {method!r}")
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)

    event = icalendar.Event()
    event.add("uid", uid(booking))
    event.add("sequence", int(booking.get("sequence") or 0))
    event.add("dtstamp", (now or datetime.now(timezone.utc)).astimezone(timezone.utc))
    event.add("dtstart", booking["start"].astimezone(timezone.utc))
    event.add("dtend", booking["end"].astimezone(timezone.utc))
    event.add("summary", title)
    if description:
        event.add("description", description)
    meet_link = (booking.get("google") or {}).get("meet_link")
    if meet_link:
        event.add("location", meet_link)
        event.add("url", meet_link)
    event.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer = booking["organizer"]
    event.add("organizer", _address(organizer))
    guest = _address(booking["guest"])
    guest.params["role"] = "REQ-PARTICIPANT"
    guest.params["partstat"] = "NEEDS-ACTION"
    if method == REQUEST:
        guest.params["rsvp"] = "TRUE"
    event.add("attendee", guest)
    cal.add_component(event)
    return cal.to_ical()


def _address(person: dict):
    import icalendar

    address = icalendar.vCalAddress(f"mailto:{person['email']}")
    if person.get("name"):
        address.params["cn"] = icalendar.vText(person["name"])
    return address
