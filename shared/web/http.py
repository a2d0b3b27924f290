"""A small router for the functions' HTTP entry points, and the one place errors become responses.

Cloud Functions gen2 gives each function one handler for every path, so each function declares
its routes on a `Router` (werkzeug's URL map, already a dependency of functions-framework) and
its `main.py` is only `return router.dispatch(request)`.

Routes are of three kinds, which decide how an error looks: "api" answers
`{"error": {"code", "message"}}`, "page" answers a readable HTML page in the reader's language,
and "task" (Cloud Tasks / Scheduler / Google push) answers JSON with a status that tells the
caller whether to retry (4xx: do not, 5xx: do).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from flask import Request, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed as _WzMethodNotAllowed
from werkzeug.routing import Map, Rule

from shared import errors
from shared.config import settings
from shared.logs import bind_trace, get_logger, log
from shared.web.auth import require_task_caller

logger = get_logger("http")

MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class _Route:
    handler: Callable[..., Any]
    kind: str
    internal: bool = False


def _json_default(value: Any) -> str:
    # Times leave as ISO 8601, the API's documented format (str() of a datetime is not).
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body, default=_json_default, ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    err = {"code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


class Router:
    def __init__(self, name: str):
        self.name = name
        self._map = Map(strict_slashes=False)
        self._routes: dict[str, _Route] = {}
        self._page_error: Callable[[Request, errors.AppError], Response] | None = None
        self.add("/healthz", lambda request: {"status": "ok", "function": name}, ["GET"], "api")

    def add(self, rule: str, handler: Callable, methods: list[str], kind: str,
            internal: bool = False) -> None:
        endpoint = f"{kind}:{rule}:{','.join(methods)}"
        self._map.add(Rule(rule, endpoint=endpoint, methods=methods))
        self._routes[endpoint] = _Route(handler, kind, internal)

    def _decorator(self, kind: str, rule: str, methods, internal: bool = False):
        def register(fn):
            self.add(rule, fn, list(methods), kind, internal)
            return fn

        return register

    def api(self, rule: str, methods=("GET",)):
        return self._decorator("api", rule, methods)

    def page(self, rule: str, methods=("GET",)):
        return self._decorator("page", rule, methods)

    def task(self, rule: str, methods=("POST",), internal: bool = True):
        """A machine-called route. `internal` ones (Cloud Tasks, Scheduler) verify the caller's
        OIDC token; Google push notifications pass internal=False and check their channel token."""
        return self._decorator("task", rule, methods, internal)

    def json_routes(self) -> list[tuple[str, str]]:
        """(path in OpenAPI form, method) of every JSON route, for the OpenAPI consistency test."""
        import re

        found = []
        for rule in self._map.iter_rules():
            if self._routes[rule.endpoint].kind == "page":
                continue
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found += [(path, m) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
        return found

    def page_errors(self, render: Callable[[Request, errors.AppError], Response]):
        """Register how this function renders an error page (templates live with the pages)."""
        self._page_error = render
        return render

    def framework_not_found(self, _exc) -> Response:
        """functions-framework's 404 handler (main.py registers it). Its catch-all rule cannot
        match some paths (one with a newline, /robots.txt) and answers them with Flask's HTML
        404 without calling the function; this routes them here, so they get our errors too."""
        from flask import request

        return self.dispatch(request)

    def dispatch(self, request: Request) -> Response:
        bind_trace(request.headers.get("X-Cloud-Trace-Context"))
        adapter = self._map.bind_to_environ(request.environ)
        kind = "api"
        try:
            try:
                endpoint, params = adapter.match()
            except _WzMethodNotAllowed as exc:
                allow = sorted(exc.valid_methods or [])
                raise errors.MethodNotAllowed(
                    f"{request.method} is not allowed here; use {', '.join(allow)}", allow=allow
                ) from None
            except HTTPException:
                if _wants_page(request):
                    kind = "page"
                    raise errors.NotFound("There is no page at this address. Please check the "
                                          "link.") from None
                raise errors.NotFound(f"no route for {request.method} {request.path}") from None
            route = self._routes[endpoint]
            kind = route.kind  # known before the size check, so a page's 413 is a page
            if request.content_length and request.content_length > MAX_BODY_BYTES:
                raise errors.PayloadTooLarge("request body is too large")
            if route.internal:
                require_task_caller(request, getattr(settings(), f"{self.name}_url"))
            result = route.handler(request, **params)
            return _to_response(result)
        except errors.AppError as exc:
            return self._error(request, kind, exc)
        except Exception:  # noqa: BLE001 - the one place an unexpected error becomes a 500
            logger.exception("unhandled error", extra={"fields": {"path": request.path}})
            return self._error(
                request,
                kind,
                errors.AppError("internal error; nothing was changed by a partial request",
                                code="internal"),
                status=500,
            )

    def _error(self, request: Request, kind: str, exc: errors.AppError, status: int | None = None):
        status = status or exc.status
        level = logging.WARNING if status < 500 else logging.ERROR
        log(logger, level, exc.message, code=exc.code, status=status, path=request.path)
        if kind == "page" and self._page_error is not None:
            response = self._page_error(request, exc)
            response.status_code = status
        else:
            response = json_response(error_body(exc.code, exc.message, exc.details or None), status)
        if isinstance(exc, errors.MethodNotAllowed):
            response.headers["Allow"] = ", ".join(exc.allow)  # required with a 405 (RFC 9110)
        return response


def _wants_page(request: Request) -> bool:
    """A browser following a wrong link gets a readable page; API clients keep their JSON."""
    accept = request.accept_mimetypes
    return (request.method == "GET" and not request.path.startswith(("/api/", "/tasks/"))
            and accept.quality("text/html") > accept.quality("application/json"))


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        body, status = result
        return json_response(body, status)
    if isinstance(result, str):
        return Response(result, mimetype="text/html")
    return json_response(result)


def read_json(request: Request) -> dict:
    """The request's JSON object, or InvalidInput with a message a client can act on."""
    if not request.data:
        raise errors.InvalidInput("a JSON request body is required")
    try:
        body = json.loads(request.data)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidInput("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.InvalidInput("request body must be a JSON object")
    return body


def parse_model(model, data: dict):
    """Validate `data` with a pydantic model; the first problems become one readable message."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "body"
            problems.append(f"{where}: {err['msg']}")
        raise errors.InvalidInput("; ".join(problems), code="validation_failed") from None
