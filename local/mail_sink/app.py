"""The WSGI app and a threaded server to run it, in this process or from the command line."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server

from . import control_api, messages_api, outbox, send_api
from .errors import error_response, status_error
from .state import SinkState
from .store import MessageStore

DEFAULT_API_KEY = "SG.local-sandbox-key"
# SendGrid's limit for a whole mail send request.
MAX_REQUEST_BYTES = 30 * 1024 * 1024


def create_app(
    api_key: str | None = None, store_dir: str | os.PathLike[str] | None = None
) -> Flask:
    """The sink as a WSGI app. The accepted key is `api_key`, else $MAIL_SINK_API_KEY, else
    DEFAULT_API_KEY; with `store_dir`, messages survive restarts as JSON files there."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # Keep "message, field, help" in SendGrid's order rather than sorted.
    app.json.sort_keys = False
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.extensions["mail_sink"] = SinkState(
        api_key=api_key or os.environ.get("MAIL_SINK_API_KEY") or DEFAULT_API_KEY,
        store=MessageStore(store_dir),
    )
    for module in (send_api, control_api, messages_api, outbox):
        app.register_blueprint(module.bp)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return error_response(413, "The JSON payload you have included in your request is too "
                                   "large.")
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return status_error(exc.code or 500, headers)


class SinkServer:
    """A sink serving on a background thread; `shutdown()` stops it and frees the port."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="mail-sink",
                                        daemon=True)
        self._thread.start()

    @property
    def app(self) -> Flask:
        return self._server.app

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def shutdown(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def make_sink_server(host: str, port: int, app: Flask) -> BaseWSGIServer:
    """Threaded, so a slow (latency-injected) send does not hold up other requests."""
    return make_server(host, port, app, threaded=True)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    store_dir: str | os.PathLike[str] | None = None,
) -> SinkServer:
    """Starts a sink on a background thread; port 0 picks a free port (see `.port`)."""
    return SinkServer(make_sink_server(host, port, create_app(api_key, store_dir)))
