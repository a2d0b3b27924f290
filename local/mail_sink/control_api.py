"""`/control/...`: fault injection and reset, for reliability tests."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .errors import error_response
from .faults import FaultPlan, FaultPlanError
from .state import get_state
from .validation import FieldError

bp = Blueprint("control_api", __name__, url_prefix="/control")


@bp.get("/faults")
def get_faults() -> Response:
    return jsonify(get_state().faults.state())


@bp.post("/faults")
def set_faults() -> Response:
    """Replaces the whole fault plan: keys left out go back to "no fault"."""
    body = request.get_json(force=True, silent=True)
    try:
        plan = FaultPlan.from_json(body)
    except FaultPlanError as exc:
        return error_response(400, [FieldError(str(exc), exc.field, None)])
    faults = get_state().faults
    faults.configure(plan)
    return jsonify(faults.state())


@bp.delete("/faults")
def clear_faults() -> Response:
    faults = get_state().faults
    faults.clear()
    return jsonify(faults.state())


@bp.post("/reset")
def reset() -> Response:
    """Forgets all messages, faults and counters."""
    state = get_state()
    state.reset()
    return jsonify({"reset": True})
