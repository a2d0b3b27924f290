"""WSGI application: routing, request logging, fault injection, server bootstrap."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from . import calendar_api, control, oauth
from .config import SandboxConfig
from .discovery import Discovery
from .errors import ApiError, OAuthError
from .keys import SigningKey
from .push import Notifier
from .store import State

log = logging.getLogger("google_sandbox")

CALENDAR_PREFIX = "/calendar/v3/"
TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")

# OAuth endpoints answer errors in the OAuth shape; everything else in the JSON API shape.
OAUTH_JSON_ENDPOINTS = {"token", "revoke", "userinfo", "tokeninfo"}

OAUTH_FAULT_DESCRIPTIONS = {
    "invalid_grant": "Token has been expired or revoked.",
    "invalid_client": "Unauthorized",
    "invalid_request": "Bad Request",
}


def _rules() -> list[Rule]:
    R = Rule
    return [
        # Google OAuth / OpenID endpoints (several aliases because libraries differ).
        R("/o/oauth2/v2/auth", endpoint="authorize", methods=["GET"]),
        R("/o/oauth2/auth", endpoint="authorize", methods=["GET"]),
        R("/o/oauth2/v2/auth/consent", endpoint="consent", methods=["POST"]),
        R("/o/oauth2/v2/auth/add_account", endpoint="add_account", methods=["POST"]),
        R("/token", endpoint="token", methods=["POST"]),
        R("/o/oauth2/token", endpoint="token", methods=["POST"]),
        R("/oauth2/v4/token", endpoint="token", methods=["POST"]),
        R("/revoke", endpoint="revoke", methods=["GET", "POST"]),
        R("/o/oauth2/revoke", endpoint="revoke", methods=["GET", "POST"]),
        R("/oauth2/v3/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
        R("/v1/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
        R("/oauth2/v3/tokeninfo", endpoint="tokeninfo", methods=["GET", "POST"]),
        R("/tokeninfo", endpoint="tokeninfo", methods=["GET", "POST"]),
        R("/oauth2/v1/certs", endpoint="certs_v1", methods=["GET"]),
        R("/oauth2/v3/certs", endpoint="certs_v3", methods=["GET"]),
        R("/.well-known/openid-configuration", endpoint="openid_configuration", methods=["GET"]),
        # Control API.
        R("/", endpoint="c:index", methods=["GET"]),
        R("/control/state", endpoint="c:get_state", methods=["GET"]),
        R("/control/users", endpoint="c:create_user", methods=["POST"]),
        R("/control/users/<email>/calendars", endpoint="c:create_calendar", methods=["POST"]),
        R("/control/users/<email>/revoke", endpoint="c:revoke_user", methods=["POST"]),
        R("/control/calendars/<calendar_id>/events", endpoint="c:list_events", methods=["GET"]),
        R("/control/calendars/<calendar_id>/events", endpoint="c:create_event", methods=["POST"]),
        R("/control/calendars/<calendar_id>/events/<event_id>", endpoint="c:patch_event", methods=["PATCH"]),
        R("/control/calendars/<calendar_id>/events/<event_id>", endpoint="c:delete_event", methods=["DELETE"]),
        R("/control/calendars/<calendar_id>/events/<event_id>/respond", endpoint="c:respond_event",
          methods=["POST"]),
        R("/control/tokens/expire", endpoint="c:expire_tokens", methods=["POST"]),
        R("/control/faults", endpoint="c:add_fault", methods=["POST"]),
        R("/control/faults", endpoint="c:list_faults", methods=["GET"]),
        R("/control/faults", endpoint="c:clear_faults", methods=["DELETE"]),
        R("/control/sync_tokens/invalidate", endpoint="c:invalidate_sync_tokens", methods=["POST"]),
        R("/control/channels", endpoint="c:list_channels", methods=["GET"]),
        R("/control/channels/expire", endpoint="c:expire_channels", methods=["POST"]),
        R("/control/notifications", endpoint="c:set_notifications", methods=["POST"]),
        R("/control/notifications", endpoint="c:get_notifications", methods=["GET"]),
        R("/control/notifications/flush", endpoint="c:flush_notifications", methods=["POST"]),
        R("/control/config", endpoint="c:set_config", methods=["POST"]),
        R("/control/config", endpoint="c:get_config", methods=["GET"]),
        R("/control/requests", endpoint="c:get_requests", methods=["GET"]),
        R("/control/requests", endpoint="c:clear_requests", methods=["DELETE"]),
        R("/control/clock", endpoint="c:advance_clock", methods=["POST"]),
        R("/control/reset", endpoint="c:reset", methods=["POST"]),
        R("/ui/<path:action>", endpoint="c:ui_action", methods=["POST"]),
    ]


def _raw_path(environ: dict) -> str:
    """The still-percent-encoded path: calendar ids may contain an encoded '/'."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        if "://" in raw:
            raw = urlsplit(raw).path
        return raw.split("?", 1)[0]
    return quote(environ.get("PATH_INFO", ""), safe="/@:+$,;=&!*'()~")


class SandboxApp:
    def __init__(self, config: SandboxConfig | dict | None = None):
        if not isinstance(config, SandboxConfig):
            config = SandboxConfig.from_mapping(config)
        self.config = config
        # What /control/reset restores after tests changed TTLs through /control/config.
        self.initial_config = dataclasses.replace(config)
        self.discovery = Discovery.load()
        self.keys = SigningKey()
        self.notifier = Notifier(timeout=config.push_timeout_seconds, is_live=self._channel_live)
        self.state = State(config, notify=self.notifier.enqueue)
        self.jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
        self.url_map = Map(_rules(), strict_slashes=False)

    def _channel_live(self, channel_id: str) -> bool:
        with self.state.lock:
            ch = self.state.channels.get(channel_id)
            return bool(ch and ch.live(self.state.now()))

    def render(self, template: str, **ctx: Any) -> str:
        return self.jinja.get_template(template).render(**ctx)

    def close(self) -> None:
        self.notifier.shutdown()

    # ---- WSGI ----------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        # Read the (small) body up front: handlers may answer without touching it, and an
        # unread body would corrupt the next request on a keep-alive connection. Form and
        # JSON parsing later work from this cache.
        request.get_data(cache=True)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith(CALENDAR_PREFIX) or path.rstrip("/") == CALENDAR_PREFIX.rstrip("/"):
            return self._google(request, "calendar", None, {})
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self._not_found(request)
        except MethodNotAllowed as exc:
            return exc.get_response(request.environ)
        except HTTPException as exc:
            return exc.get_response(request.environ)
        if endpoint.startswith("c:"):
            return self._control(request, endpoint[2:], args)
        return self._google(request, endpoint, getattr(oauth, endpoint), args)

    def _not_found(self, request: Request) -> Response:
        err = ApiError(404, "notFound", "Not Found")
        resp = Response(err.to_json(), status=404, mimetype="application/json")
        self._log(request, resp.status_code, None, None, time.monotonic())
        return resp

    def _control(self, request: Request, name: str, args: dict) -> Response:
        try:
            return getattr(control, name)(self, request, **args)
        except ApiError as exc:
            return Response(exc.to_json(), status=exc.code, mimetype="application/json")

    # ---- Google-facing endpoints ------------------------------------------------------
    def _email_for(self, request: Request, endpoint: str) -> str | None:
        """Best-effort identification of the Google user behind a request."""
        if endpoint == "token":
            return oauth.token_user_hint(self, request)
        if endpoint == "consent":
            return (request.form.get("account") or "").lower() or None
        if endpoint == "revoke":
            raw = request.values.get("token", "")
            with self.state.lock:
                tok = self.state.refresh_tokens.get(raw) or self.state.access_tokens.get(raw)
                return tok.email if tok else None
        auth = request.headers.get("Authorization", "")
        raw = auth[7:].strip() if auth.lower().startswith("bearer ") else request.args.get("oauth_token") \
            or request.args.get("access_token")
        if raw:
            with self.state.lock:
                tok = self.state.access_tokens.get(raw)
                return tok.email if tok else None
        return None

    def _google(self, request: Request, endpoint: str, handler, args: dict) -> Response:
        started = time.monotonic()
        email_holder: dict = {}

        def email_of():
            if "v" not in email_holder:
                email_holder["v"] = self._email_for(request, endpoint)
            return email_holder["v"]

        try:
            fault = self.state.take_fault(request.method, request.path, email_of)
            if fault and fault.latency_ms:
                time.sleep(fault.latency_ms / 1000.0)  # outside the state lock on purpose
            if fault and fault.status:
                response = self._fault_response(request, endpoint, fault)
            elif endpoint == "calendar":
                sub = _raw_path(request.environ)[len(CALENDAR_PREFIX):]
                response = calendar_api.handle(self, request, sub)
            else:
                response = handler(self, request, **args)
        except ApiError as exc:
            response = Response(exc.to_json(), status=exc.code, mimetype="application/json")
            for k, v in exc.headers.items():
                response.headers[k] = v
        except OAuthError as exc:
            response = oauth.oauth_error_response(exc)
        except Exception:  # a sandbox bug must still answer like Google's backend would
            log.exception("unhandled error for %s %s", request.method, request.path)
            err = ApiError(500, "backendError", "Backend Error")
            response = Response(err.to_json(), status=500, mimetype="application/json")
        email = request.environ.get("sandbox.email") or email_of()
        self._log(request, response.status_code, email, request.environ.get("sandbox.calendar_method"), started)
        return response

    def _fault_response(self, request: Request, endpoint: str, fault) -> Response:
        if endpoint in OAUTH_JSON_ENDPOINTS:
            error = fault.reason or ("invalid_request" if fault.status < 500 else "internal_failure")
            desc = fault.message or OAUTH_FAULT_DESCRIPTIONS.get(error, "Injected fault")
            return oauth.oauth_error_response(OAuthError(error, desc, fault.status))
        if endpoint == "calendar":
            try:
                method, _ = self.discovery.route(request.method, _raw_path(request.environ)[len(CALENDAR_PREFIX):])
                request.environ["sandbox.calendar_method"] = method.id
            except ApiError:
                pass
        err = ApiError(fault.status, fault.reason, fault.message)
        if fault.status == 503 and not fault.message and not fault.reason:
            err = ApiError(503, "backendError", "The service is currently unavailable.")
        return Response(err.to_json(), status=fault.status, mimetype="application/json")

    def _log(self, request: Request, status: int, email: str | None, calendar_method: str | None,
             started: float) -> None:
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": {k: request.args.getlist(k) for k in request.args.keys()},
            "status": status,
            "email": email,
            "calendar_method": calendar_method,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if calendar_method and request.mimetype == "application/json":
            try:
                entry["body"] = json.loads(request.get_data(cache=True) or b"null")
            except ValueError:
                entry["body"] = None
        self.state.log_request(entry)


def create_app(config: SandboxConfig | dict | None = None) -> SandboxApp:
    """Build the WSGI app; ``config`` is a SandboxConfig or a dict of its fields."""
    return SandboxApp(config)


# ---- server --------------------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


class _Server(ThreadedWSGIServer):
    # 50 clients connecting at once must not overflow the accept backlog.
    request_queue_size = 256
    daemon_threads = True


class SandboxServer:
    """A running sandbox; ``shutdown()`` stops serving and the push worker."""

    def __init__(self, app: SandboxApp, server: _Server, host: str):
        self.app = app
        self._server = server
        self.host = host
        self.port = server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> "SandboxServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="google-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def wait(self) -> None:
        while self._thread and self._thread.is_alive():
            self._thread.join(0.5)

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.app.close()


def serve(host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | dict | None = None, *,
          client_id: str | None = None, client_secret: str | None = None, verbose: bool = False,
          background: bool = True) -> SandboxServer:
    """Start the sandbox (port 0 picks a free port). With background=True (default) it
    serves from a daemon thread and returns at once."""
    if not isinstance(config, SandboxConfig):
        config = SandboxConfig.from_mapping(config)
    if client_id:
        config.client_id = client_id
    if client_secret:
        config.client_secret = client_secret
    config.verbose = verbose or config.verbose
    app = create_app(config)
    handler = type("Handler", (_QuietHandler,), {"verbose": config.verbose})
    server = _Server(host, port, app, handler=handler)
    handle = SandboxServer(app, server, host)
    if background:
        handle.start()
    return handle
