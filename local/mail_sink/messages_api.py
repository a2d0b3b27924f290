"""`/api/...`: stored messages as JSON, plus their bodies and attachments as sent."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, request, url_for
from werkzeug.http import dump_options_header

from .errors import error_response
from .state import get_state
from .store import StoredMessage, UnknownMessage

bp = Blueprint("messages_api", __name__, url_prefix="/api")


@bp.get("/messages")
def list_messages() -> Response:
    """Newest first. Filters (all must match, each may repeat): `to` = any recipient (to, cc or
    bcc); `custom_arg=key:value` = a personalization carries it; `since=<id>` = newer than that
    message."""
    custom_args = []
    for arg in request.args.getlist("custom_arg"):
        key, sep, value = arg.partition(":")
        if not sep:
            return error_response(400, "custom_arg must look like key:value")
        custom_args.append((key, value))
    try:
        messages = get_state().store.find(
            recipients=request.args.getlist("to"),
            custom_args=custom_args,
            since=request.args.get("since"),
        )
    except UnknownMessage as exc:
        return error_response(404, f"No message with id {exc.args[0]} (since)")
    return jsonify([summary(m) for m in messages])


@bp.get("/messages/<message_id>")
def get_message(message_id: str) -> Response:
    message = _message(message_id)
    html = message.body("text/html")
    return jsonify({
        **summary(message),
        "reply_to": message.payload.get("reply_to"),
        "reply_to_list": message.payload.get("reply_to_list"),
        "template_id": message.payload.get("template_id"),
        "personalizations": message.personalizations,
        "text": message.body("text/plain"),
        "html": html,
        "html_url": url_for(".message_html", message_id=message.id) if html is not None else None,
        "attachment_files": [
            {
                "index": a.index,
                "filename": a.filename,
                "type": a.type,
                "disposition": a.disposition,
                "content_id": a.content_id,
                "size": len(a.data),
                "url": url_for(".attachment", message_id=message.id, index=a.index),
            }
            for a in message.attachments
        ],
        "payload": message.payload,
    })


@bp.get("/messages/<message_id>/html")
def message_html(message_id: str) -> Response:
    html = _message(message_id).body("text/html")
    if html is None:
        abort(404)
    return Response(html, content_type="text/html; charset=utf-8", headers={
        # Mail clients never run a message's scripts; the sandbox keeps that true here while
        # links, forms and new windows still work for browser tests.
        "Content-Security-Policy": "sandbox allow-forms allow-popups "
                                   "allow-popups-to-escape-sandbox allow-top-navigation",
    })


@bp.get("/messages/<message_id>/attachments/<int:index>")
def attachment(message_id: str, index: int) -> Response:
    attachments = _message(message_id).attachments
    if index >= len(attachments):
        abort(404)
    item = attachments[index]
    return Response(item.data, content_type=item.type, headers={
        "Content-Disposition": content_disposition(item.filename),
        "X-Content-Type-Options": "nosniff",
    })


@bp.get("/stats")
def stats() -> Response:
    state = get_state()
    return jsonify({
        "count": len(state.store),
        "failures_injected": state.faults.failures_injected,
        "requests": state.requests,
    })


def summary(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "received_at": message.received_at,
        "from": message.sender,
        "to": message.to,
        "subject": message.subject,
        "categories": message.payload.get("categories", []),
        "custom_args": message.custom_args,
        "attachments": message.attachment_names,
    }


def content_disposition(filename: str) -> str:
    # Header values may not hold control characters; a sender's filename could.
    filename = "".join(c for c in filename if unicodedata.category(c) != "Cc") or "attachment"
    try:
        filename.encode("ascii")
        params = {"filename": filename}
    except UnicodeEncodeError:
        fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
        params = {"filename": fallback or "attachment",
                  "filename*": "UTF-8''" + quote(filename, safe="!#$&+-.^_`|~")}
    return dump_options_header("attachment", params)


def _message(message_id: str) -> StoredMessage:
    try:
        return get_state().store.get(message_id)
    except UnknownMessage:
        abort(404)
