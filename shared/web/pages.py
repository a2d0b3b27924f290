"""Page helpers shared by the functions that serve HTML: responses, error pages, redirects."""

from __future__ import annotations

from flask import Request, Response

from shared import errors
from shared.web import i18n
from shared.web.render import render

i18n.register(
    {
        "Language": "Sprache",
        "Something went wrong": "Etwas ist schiefgelaufen",
        "Not found": "Nicht gefunden",
        "Not allowed": "Nicht erlaubt",
        "Please sign in": "Bitte melden Sie sich an",
        "This link is no longer valid": "Dieser Link ist nicht mehr gültig",
        "Please check your input": "Bitte prüfen Sie Ihre Eingabe",
        "Temporarily unavailable": "Vorübergehend nicht verfügbar",
        "Back": "Zurück",
    }
)

_TITLES = {
    400: "Please check your input",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Please check your input",
    410: "This link is no longer valid",
    503: "Temporarily unavailable",
}


def page(request: Request, template: str, status: int = 200, **context) -> Response:
    lang = i18n.negotiate(request)
    response = Response(render(template, lang, **context), status=status, mimetype="text/html")
    if request.args.get("lang") in i18n.LANGUAGES:
        response.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
    response.headers["Content-Language"] = lang
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def error_page(request: Request, exc: errors.AppError, link: dict | None = None) -> Response:
    lang = i18n.negotiate(request)
    status = exc.status if exc.status in _TITLES else (500 if exc.status >= 500 else 400)
    title = i18n.gettext(lang, _TITLES.get(status, "Something went wrong"))
    message = i18n.gettext(lang, exc.message)
    return page(request, "error.html", status=status, title=title, message=message, link=link)


def redirect(location: str, status: int = 303) -> Response:
    return Response("", status=status, headers={"Location": location})
