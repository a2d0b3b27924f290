"""Page helpers shared by the functions that serve HTML: responses, error pages, redirects."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Request, Response

from shared import errors
from shared.web import i18n
from shared.web.render import render

i18n.register(
    {
        "Language": "Sprache",
        "Skip to content": "Zum Inhalt springen",
        "Something went wrong": "Etwas ist schiefgelaufen",
        "Not found": "Nicht gefunden",
        "Not allowed": "Nicht erlaubt",
        "Please sign in": "Bitte melden Sie sich an",
        "This link is no longer valid": "Dieser Link ist nicht mehr gültig",
        "Please check your input": "Bitte prüfen Sie Ihre Eingabe",
        "Temporarily unavailable": "Vorübergehend nicht verfügbar",
        "This is not possible right now": "Das ist gerade nicht möglich",
        "Back": "Zurück",
        "There is no page at this address. Please check the link.":
            "Unter dieser Adresse gibt es keine Seite. Bitte prüfen Sie den Link.",
    }
)

_TITLES = {
    400: "Please check your input",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "This is not possible right now",
    410: "This link is no longer valid",
    503: "Temporarily unavailable",
}


def language_links(request: Request) -> dict[str, str]:
    """The current page in each language: the other query parameters (a chosen day, a time
    zone) stay, so switching language does not lose the reader's place."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return {code: "?" + urlencode([*kept, ("lang", code)]) for code in i18n.LANGUAGES}


def page(request: Request, template: str, status: int = 200, **context) -> Response:
    lang = i18n.negotiate(request)
    # Pages work without scripts; a script tagged with this nonce only adds convenience.
    nonce = secrets.token_urlsafe(16)
    body = render(template, lang, language_links=language_links(request), csp_nonce=nonce,
                  **context)
    response = Response(body, status=status, mimetype="text/html")
    if request.args.get("lang") in i18n.LANGUAGES:
        response.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
    response.headers["Content-Language"] = lang
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; "
        "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def error_page(request: Request, exc: errors.AppError, link: dict | None = None) -> Response:
    lang = i18n.negotiate(request)
    status = exc.status if exc.status in _TITLES else (500 if exc.status >= 500 else 400)
    title = i18n.gettext(lang, _TITLES.get(status, "Something went wrong"))
    message = _sentence(i18n.gettext(lang, exc.message))
    return page(request, "error.html", status=status, title=title, message=message, link=link)


def _sentence(message: str) -> str:
    # Service errors read like API messages ("this booking page does not exist"); a page shows
    # them as a sentence.
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def redirect(location: str, status: int = 303) -> Response:
    return Response("", status=status, headers={"Location": location})
