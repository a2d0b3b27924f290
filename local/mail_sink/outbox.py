"""The outbox in a browser: `/` lists messages, `/messages/<id>` shows one."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from .state import get_state
from .store import UnknownMessage

bp = Blueprint("outbox", __name__)


@bp.get("/")
def index() -> str:
    return render_template("outbox.html", messages=get_state().store.find())


@bp.get("/messages/<message_id>")
def message(message_id: str) -> str:
    try:
        found = get_state().store.get(message_id)
    except UnknownMessage:
        abort(404)
    return render_template("message.html", message=found)
