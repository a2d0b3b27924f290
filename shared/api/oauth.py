"""HTTP routes of the oauth function (functions/oauth/main.py dispatches here).

Pages (session cookie, CSRF on every form post): /signin, /signout, /integrations and its form
posts, /oauth/connect and /oauth/callback. JSON API (API key as bearer, or the session):
/api/integrations/... . Both call the same use cases in shared/services/integrations.py; the
owner-only rule is checked here first (403 for assistants) and again in the service.
"""

from __future__ import annotations

import hmac
import re
import secrets as _secrets
from urllib.parse import urlencode

from flask import Request, Response

from shared import errors
from shared.config import settings
from shared.services import google_accounts, integrations, members
from shared.web import auth, i18n
from shared.web.http import Router, read_json
from shared.web.pages import error_page, page, redirect

router = Router("oauth")

OAUTH_COOKIE = "cb_oauth"
SIGNIN_COOKIE = "cb_signin"
INTEGRATIONS = "/integrations"

i18n.register({
    "Sign in": "Anmelden",
    "Sign out": "Abmelden",
    "You are signed out.": "Sie sind abgemeldet.",
    "API key": "API-Schlüssel",
    "Your personal API key (starts with cbk_). It is shown once when your account is created.":
        "Ihr persönlicher API-Schlüssel (beginnt mit cbk_). Er wird einmal bei der Erstellung "
        "Ihres Kontos angezeigt.",
    "This API key is not valid.": "Dieser API-Schlüssel ist ungültig.",
    "Integrations": "Integrationen",
    "Signed in as {name}": "Angemeldet als {name}",
    "owner": "Inhaber",
    "assistant": "Assistenz",
    "Google Calendar": "Google Kalender",
    "Only the account owner can connect, disconnect or change Google accounts; you can view "
    "them.": "Nur der Kontoinhaber kann Google-Konten verbinden, trennen oder ändern; Sie können "
             "sie ansehen.",
    "No Google account is connected yet.": "Noch kein Google-Konto verbunden.",
    "Connect Google Calendar": "Google Kalender verbinden",
    "Add another Google account": "Weiteres Google-Konto hinzufügen",
    "Connected": "Verbunden",
    "Reconnect needed": "Verbindung unterbrochen",
    "Google no longer accepts calbridge's access to {email}. Events cannot be created and "
    "conflicts cannot be checked in its calendars until it is reconnected.":
        "Google akzeptiert den Zugriff von calbridge auf {email} nicht mehr. Bis zur erneuten "
        "Verbindung können in seinen Kalendern keine Termine erstellt und keine Konflikte "
        "geprüft werden.",
    "Reconnect": "Neu verbinden",
    "Calendar": "Kalender",
    "Access": "Zugriff",
    "Default": "Standard",
    "Check for conflicts": "Auf Konflikte prüfen",
    "primary": "Hauptkalender",
    "On": "An",
    "Off": "Aus",
    "Turn off": "Ausschalten",
    "Turn on": "Einschalten",
    "conflict checking for {name}": "Konfliktprüfung für {name}",
    "Make {name} the default calendar": "{name} als Standardkalender festlegen",
    "Owner": "Inhaber",
    "Can edit": "Bearbeiten",
    "Read-only": "Nur lesen",
    "Make default": "Als Standard festlegen",
    "Disconnect…": "Trennen …",
    "calbridge stops adding events to the calendars of {email} and stops checking them for "
    "conflicts, and gives up its access to the Google account. Events already in these "
    "calendars stay there.":
        "calbridge trägt keine Termine mehr in die Kalender von {email} ein, prüft sie nicht "
        "mehr auf Konflikte und gibt den Zugriff auf das Google-Konto auf. Termine, die schon "
        "in diesen Kalendern stehen, bleiben erhalten.",
    "New bookings are added to the default calendar. Times when a calendar with conflict "
    "checking is busy are not offered on your booking pages.":
        "Neue Buchungen werden in den Standardkalender eingetragen. Zeiten, in denen ein "
        "Kalender mit Konfliktprüfung belegt ist, werden auf Ihren Buchungsseiten nicht "
        "angeboten.",
    "New events from booking pages, forms and automations are added to {name}.":
        "Neue Termine aus Buchungsseiten, Formularen und Automationen werden in {name} "
        "eingetragen.",
    "the form has expired or did not come from this site; reload the page and try again":
        "Das Formular ist abgelaufen oder stammt nicht von dieser Seite; bitte laden Sie die "
        "Seite neu und versuchen Sie es erneut.",
    "Default calendar": "Standardkalender",
    "New events from booking pages, forms and automations are added to {name} ({email}).":
        "Neue Termine aus Buchungsseiten, Formularen und Automationen werden in {name} "
        "({email}) eingetragen.",
    "No default calendar is set. Choose one: events from booking pages, forms and automations "
    "need it.": "Kein Standardkalender festgelegt. Bitte wählen Sie einen: Termine aus "
                "Buchungsseiten, Formularen und Automationen brauchen ihn.",
    "Refresh calendar list": "Kalenderliste aktualisieren",
    "Disconnect {email}": "{email} trennen",
    "Google Meet is on for new events.": "Google Meet ist für neue Termine eingeschaltet.",
    "Google Meet is off.": "Google Meet ist ausgeschaltet.",
    "Connected {email}.": "{email} verbunden.",
    "Disconnected {email}.": "{email} getrennt.",
    "It held the default calendar: choose a new default calendar.":
        "Es enthielt den Standardkalender: Bitte wählen Sie einen neuen Standardkalender.",
    "The default calendar was saved.": "Der Standardkalender wurde gespeichert.",
    "Conflict checking was updated.": "Die Konfliktprüfung wurde aktualisiert.",
    "The calendar list was refreshed.": "Die Kalenderliste wurde aktualisiert.",
    "Google no longer accepts calbridge's access to this account: please reconnect it.":
        "Google akzeptiert den Zugriff von calbridge auf dieses Konto nicht mehr: Bitte verbinden "
        "Sie es neu.",
    "Google access was revoked or expired; the account must be reconnected.":
        "Der Google-Zugriff wurde widerrufen oder ist abgelaufen; das Konto muss neu verbunden "
        "werden.",
    "Google Calendar was not connected": "Google Kalender wurde nicht verbunden",
    "These permissions were not granted:": "Diese Berechtigungen wurden nicht erteilt:",
    "Back to Integrations": "Zurück zu Integrationen",
    "Try again": "Erneut versuchen",
    "You did not allow calbridge to access Google Calendar, so nothing was connected.":
        "Sie haben calbridge den Zugriff auf Google Kalender nicht erlaubt; es wurde nichts "
        "verbunden.",
    "This sign-in link is not valid any more (it was already used, has expired or was started "
    "elsewhere). Please start connecting again.":
        "Dieser Anmeldelink ist nicht mehr gültig (bereits benutzt, abgelaufen oder anderswo "
        "begonnen). Bitte starten Sie die Verbindung erneut.",
    "This sign-in was started in another browser or session. Please start connecting again "
    "from the Integrations page.":
        "Diese Anmeldung wurde in einem anderen Browser oder einer anderen Sitzung begonnen. "
        "Bitte starten Sie die Verbindung erneut auf der Seite Integrationen.",
    "Google did not grant every permission calbridge needs; nothing was connected. Please "
    "connect again and keep all boxes ticked.":
        "Google hat nicht alle Berechtigungen erteilt, die calbridge braucht; es wurde nichts "
        "verbunden. Bitte verbinden Sie erneut und lassen Sie alle Kästchen angehakt.",
    "Google did not accept this sign-in: the authorization code was already used or has "
    "expired. Please start again.":
        "Google hat diese Anmeldung nicht angenommen: Der Autorisierungscode wurde bereits "
        "benutzt oder ist abgelaufen. Bitte beginnen Sie erneut.",
    "See your primary Google Account email address":
        "Die primäre E-Mail-Adresse Ihres Google-Kontos sehen",
    "Identify your Google account": "Ihr Google-Konto erkennen",
    "See the list of your calendars": "Die Liste Ihrer Kalender sehen",
    "See when you are busy in your calendars": "Sehen, wann Sie in Ihren Kalendern belegt sind",
    "Create, change and delete events in your calendars":
        "Termine in Ihren Kalendern erstellen, ändern und löschen",
    "Only the account owner can change the Google Calendar integration; assistants can view "
    "it.": "Nur der Kontoinhaber kann die Google-Kalender-Integration ändern; Assistenzen können "
           "sie ansehen.",
})

SCOPE_LABELS = {
    "openid": "Identify your Google account",
    "https://www.googleapis.com/auth/userinfo.email":
        "See your primary Google Account email address",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly":
        "See the list of your calendars",
    "https://www.googleapis.com/auth/calendar.freebusy": "See when you are busy in your calendars",
    "https://www.googleapis.com/auth/calendar.events":
        "Create, change and delete events in your calendars",
}

ACCESS_ROLE_LABELS = {
    "owner": "Owner", "writer": "Can edit", "reader": "Read-only",
    "freeBusyReader": "Read-only", "writerWithoutPrivateAccess": "Can edit",
}

NOTICES = {
    "default_saved": "The default calendar was saved.",
    "conflicts_saved": "Conflict checking was updated.",
    "refreshed": "The calendar list was refreshed.",
    "revoked": "Google no longer accepts calbridge's access to this account: please reconnect it.",
}


# --- helpers ---------------------------------------------------------------------------------


def _cookie(response: Response, name: str, value: str, max_age: int, path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        secure=not settings().is_local, samesite="Lax")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in would help phishing."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return INTEGRATIONS


def _form_text(request: Request, name: str, max_len: int = 1024) -> str:
    value = request.form.get(name, "").strip()
    if not value:
        raise errors.InvalidInput(f"the form field {name!r} is required")
    if len(value) > max_len:
        raise errors.InvalidInput(f"the form field {name!r} is too long")
    return value


def _json_text(body: dict, name: str, max_len: int = 1024) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidInput(f"{name}: a non-empty string is required",
                                  code="validation_failed")
    if len(value) > max_len:
        raise errors.InvalidInput(f"{name}: at most {max_len} characters",
                                  code="validation_failed")
    return value.strip()


def _json_bool(body: dict, name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise errors.InvalidInput(f"{name}: true or false is required", code="validation_failed")
    return value


def _owner_write(request: Request) -> members.Member:
    """The owner behind a state-changing call. Cookie-authenticated calls must carry the form's
    CSRF token, so JSON writes effectively need the API key as bearer."""
    member = auth.require_member(request, owner=True)
    auth.check_csrf(request)
    return member


def _safe_color(value: str) -> str:
    """Google's calendar colour, only if it is a plain hex colour (it lands in a style)."""
    return value if re.fullmatch(r"#[0-9a-fA-F]{3,8}", value or "") else ""


def _back(**params) -> Response:
    return redirect(f"{INTEGRATIONS}?{urlencode(params)}" if params else INTEGRATIONS)


@router.page_errors
def _render_error(request: Request, exc: errors.AppError) -> Response:
    if exc.code.startswith("oauth_") or exc.code == "id_token_invalid":
        missing = [
            {"scope": s, "label": SCOPE_LABELS.get(s, s)}
            for s in exc.details.get("missing_scopes", [])
        ]
        return page(request, "oauth_failed.html", status=exc.status, message=exc.message,
                    missing=missing)
    text = i18n.gettext(i18n.negotiate(request), "Back to Integrations")
    return error_page(request, exc, link={"href": INTEGRATIONS, "text": text})


# --- sign-in ---------------------------------------------------------------------------------


def _signin_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    # Login CSRF: the form carries a nonce that must match a cookie only this site can set.
    nonce = _secrets.token_urlsafe(24)
    response = page(request, "signin.html", status=status, csrf_token=nonce, error=error,
                    next=_safe_next(request.values.get("next")),
                    signed_out=request.args.get("signed_out") == "1")
    _cookie(response, SIGNIN_COOKIE, nonce, max_age=3600, path="/signin")
    return response


@router.page("/signin", methods=("GET",))
def signin_form(request: Request):
    if auth.current_member(request) is not None:
        return redirect(_safe_next(request.args.get("next")))
    return _signin_page(request)


@router.page("/signin", methods=("POST",))
def signin(request: Request):
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        return _signin_page(request, status=403, error=(
            "the form has expired or did not come from this site; reload the page and try again"
        ))
    member = members.member_by_key(request.form.get("api_key", "").strip())
    if member is None:
        return _signin_page(request, status=401, error="This API key is not valid.")
    response = redirect(_safe_next(request.form.get("next")))
    auth.start_session(response, member)
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.page("/signout", methods=("POST",))
def signout(request: Request):
    auth.require_member(request)
    auth.check_csrf(request)
    response = redirect("/signin?signed_out=1")
    auth.end_session(response)
    return response


# --- integrations page -----------------------------------------------------------------------


@router.page(INTEGRATIONS, methods=("GET",))
def integrations_page(request: Request):
    member = auth.current_member(request)
    if member is None:
        return redirect(f"/signin?{urlencode({'next': INTEGRATIONS})}")
    view = integrations.overview(member.account_id)
    lang = i18n.negotiate(request)
    notices = []
    by_id = {ga["id"]: ga for ga in view["google_accounts"]}
    connected = request.args.get("connected")
    if connected in by_id:
        notices.append(i18n.gettext(lang, "Connected {email}.", email=by_id[connected]["email"]))
    if request.args.get("disconnected"):
        notices.append(i18n.gettext(lang, "Disconnected {email}.",
                                    email=request.args["disconnected"][:320]))
        if request.args.get("default_cleared"):
            notices.append(i18n.gettext(lang, "It held the default calendar: choose a new "
                                              "default calendar."))
    if request.args.get("notice") in NOTICES:
        notices.append(i18n.gettext(lang, NOTICES[request.args["notice"]]))
    return page(request, "integrations.html", member=member, view=view, notices=notices,
                csrf_token=auth.csrf_token(request), scope_labels=SCOPE_LABELS,
                access_labels=ACCESS_ROLE_LABELS, reconnect_needed=google_accounts.RECONNECT_NEEDED,
                safe_color=_safe_color)


@router.page(f"{INTEGRATIONS}/default", methods=("POST",))
def default_form(request: Request):
    member = _owner_write(request)
    gid, _, calendar_id = _form_text(request, "choice").partition("|")
    integrations.set_default(member, gid, calendar_id)
    return _back(notice="default_saved")


@router.page(f"{INTEGRATIONS}/conflicts", methods=("POST",))
def conflicts_form(request: Request):
    member = _owner_write(request)
    enabled = _form_text(request, "enabled")
    if enabled not in ("on", "off"):
        raise errors.InvalidInput("the form field 'enabled' must be on or off")
    integrations.set_conflict_check(member, _form_text(request, "google_account_id"),
                                    _form_text(request, "calendar_id"), enabled == "on")
    return _back(notice="conflicts_saved")


@router.page(f"{INTEGRATIONS}/refresh", methods=("POST",))
def refresh_form(request: Request):
    member = _owner_write(request)
    try:
        integrations.refresh_calendars(member, _form_text(request, "google_account_id"))
    except errors.CalendarAuthRevoked:
        # The account is now marked; the page shows it with its Reconnect button.
        return _back(notice="revoked")
    return _back(notice="refreshed")


@router.page(f"{INTEGRATIONS}/disconnect", methods=("POST",))
def disconnect_form(request: Request):
    member = _owner_write(request)
    result = integrations.disconnect(member, _form_text(request, "google_account_id"))
    params = {"disconnected": result["email"]}
    if result["default_cleared"]:
        params["default_cleared"] = "1"
    return _back(**params)


# --- OAuth -----------------------------------------------------------------------------------


def _to_google(start: integrations.ConnectStart) -> Response:
    response = redirect(start.url, status=302)
    # Binds the callback to this browser; Lax so Google's top-level redirect back carries it.
    _cookie(response, OAUTH_COOKIE, start.binding, max_age=int(integrations.STATE_TTL.seconds),
            path="/oauth/callback")
    return response


@router.page("/oauth/connect", methods=("GET",))
def connect(request: Request):
    """Start connecting (or reconnecting, ?reconnect=<google_account_id>) a Google account.

    A plain link, not a form: it changes nothing by itself, and the flow only completes in the
    browser that started it, after the user consents at Google.
    """
    if auth.current_member(request) is None:
        return redirect(f"/signin?{urlencode({'next': request.full_path.rstrip('?')})}")
    member = auth.require_member(request, owner=True)
    login_hint, force_consent = None, False
    reconnect = request.args.get("reconnect")
    if reconnect:
        ga = google_accounts.get_for_account(member.account_id, reconnect)
        # A dead refresh token must be replaced, and Google only issues one after consent.
        login_hint, force_consent = ga.email, not ga.connected
    binding = request.cookies.get(OAUTH_COOKIE, "")
    if not 20 <= len(binding) <= 64:
        binding = integrations.new_binding()
    return _to_google(integrations.start_connect(member, binding=binding, login_hint=login_hint,
                                                 force_consent=force_consent))


@router.page("/oauth/callback", methods=("GET",))
def callback(request: Request):
    session_member = None
    if auth.session_data(request):
        session_member = auth.current_member(request)
    params = {k: request.args.get(k, "") for k in ("state", "code", "scope", "error")}
    result = integrations.finish_connect(params, binding=request.cookies.get(OAUTH_COOKIE),
                                         session_member=session_member)
    if isinstance(result, integrations.ConnectStart):
        return _to_google(result)
    return _back(connected=result.google_account_id)


# --- JSON API --------------------------------------------------------------------------------


@router.api("/api/integrations", methods=("GET",))
def api_overview(request: Request):
    member = auth.require_member(request)
    return integrations.overview(member.account_id)


@router.api("/api/integrations/default-calendar", methods=("PUT",))
def api_default(request: Request):
    member = _owner_write(request)
    body = read_json(request)
    return {"default_calendar": integrations.set_default(
        member, _json_text(body, "google_account_id"), _json_text(body, "calendar_id"))}


@router.api("/api/integrations/google-accounts/<google_account_id>/conflict-check", methods=("PUT",))
def api_conflict(request: Request, google_account_id: str):
    member = _owner_write(request)
    body = read_json(request)
    return {"calendar": integrations.set_conflict_check(
        member, google_account_id, _json_text(body, "calendar_id"), _json_bool(body, "enabled"))}


@router.api("/api/integrations/google-accounts/<google_account_id>/refresh", methods=("POST",))
def api_refresh(request: Request, google_account_id: str):
    member = _owner_write(request)
    return integrations.refresh_calendars(member, google_account_id)


@router.api("/api/integrations/google-accounts/<google_account_id>", methods=("DELETE",))
def api_disconnect(request: Request, google_account_id: str):
    member = _owner_write(request)
    return integrations.disconnect(member, google_account_id)
