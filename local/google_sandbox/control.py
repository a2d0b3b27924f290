"""Control API (JSON) and the HTML dashboard: act as the Google user, inject faults.

Writes go through calendar_ops exactly like API writes, so they bump etags,
sequences and sync tokens and fire push notifications the same way.
"""
from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from . import calendar_ops as ops
from . import timeutil
from .errors import ApiError, bad_request
from .store import ACCESS_ROLES, Fault

FAULT_STATUSES = {400, 401, 403, 404, 409, 410, 412, 429, 500, 502, 503, 504}


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data, indent=2, default=str), status=status, mimetype="application/json")


def _body(request: Request) -> dict:
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object.", reason="parseError")
    return data


def _calendar(app, calendar_id: str):
    cal = app.state.calendars.get(calendar_id)
    if cal is None:
        raise ApiError(404, "notFound", f"Unknown calendar {calendar_id}")
    return cal


def _acting_user(cal) -> str:
    owner = ops.calendar_owner(cal)
    return owner or cal.id


def _when(value):
    """Accept full EventDateTime objects or plain strings for convenience."""
    if isinstance(value, str):
        return {"date": value} if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else {"dateTime": value}
    return value


def _event_body(app, data: dict) -> dict:
    body = dict(data)
    for key in ("start", "end"):
        if key in body:
            body[key] = _when(body[key])
    app.discovery._check(body, {"$ref": "Event"}, "resource")
    return body


# ---- snapshots -------------------------------------------------------------------------
def channel_view(app, ch) -> dict:
    now = app.state.now()
    return {
        "id": ch.id,
        "resourceId": ch.resource_id,
        "resourceUri": ch.resource_uri,
        "calendarId": ch.calendar_id,
        "address": ch.address,
        "token": ch.token,
        "expiration": str(ch.expiration_ms),
        "expired": ch.expiration_ms <= now * 1000,
        "stopped": ch.stopped,
        "live": ch.live(now),
        "messageNumber": ch.message_number,
        "email": ch.email,
    }


def fault_view(f: Fault) -> dict:
    return {k: getattr(f, k) for k in ("id", "method", "path_regex", "status", "reason", "message", "count",
                                       "latency_ms", "email", "hits")}


def state_snapshot(app) -> dict:
    state = app.state
    with state.lock:
        now = state.now()
        users = []
        for u in state.users.values():
            cals = [{"id": c.id, "summary": c.summary, "accessRole": state.role(c, u.email), "primary": c.id == u.email}
                    for c in state.calendars.values() if state.role(c, u.email) != "none"]
            users.append({"email": u.email, "name": u.name, "sub": u.sub, "calendars": cals})
        calendars = [{
            "id": c.id,
            "summary": c.summary,
            "timeZone": c.time_zone,
            "owner": ops.calendar_owner(c),
            "acl": dict(c.acl),
            "events": sum(1 for e in c.events.values() if e.data.get("status") != "cancelled"),
            "events_total": len(c.events),
            "sync_generation": c.sync_generation,
        } for c in state.calendars.values()]
        return {
            "users": users,
            "calendars": calendars,
            "events": sum(c["events"] for c in calendars),
            "events_total": sum(c["events_total"] for c in calendars),
            "channels": [channel_view(app, ch) for ch in state.channels.values()],
            "faults": [fault_view(f) for f in state.faults],
            "grants": [{"email": e, "client_id": c, "scopes": sorted(s)} for (e, c), s in state.grants.items()],
            "tokens": {
                "access_live": sum(1 for t in state.access_tokens.values() if not t.revoked and t.expires_at > now),
                "refresh_live": sum(1 for t in state.refresh_tokens.values() if not t.revoked),
            },
            "notifications": {"mode": app.notifier.mode, "remaining": app.notifier.mode_remaining},
            "config": config_view(app),
            "clock_offset_seconds": state.clock_offset,
            "last_request_seq": state.last_request_seq,
        }


def config_view(app) -> dict:
    c = app.config
    return {
        "client_id": c.client_id,
        "access_token_ttl_seconds": c.access_token_ttl_seconds,
        "auth_code_ttl_seconds": c.auth_code_ttl_seconds,
        "default_channel_ttl_seconds": c.default_channel_ttl_seconds,
        "push_timeout_seconds": c.push_timeout_seconds,
    }


# ---- JSON handlers ---------------------------------------------------------------------
def get_state(app, request):
    return _json(state_snapshot(app))


def create_user(app, request):
    data = _body(request)
    email = (data.get("email") or "").strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ApiError(400, "required", "email is required and must be an email address")
    with app.state.lock:
        if email in app.state.users:
            raise ApiError(409, "duplicate", f"User {email} already exists")
        user = app.state.add_user(email, data.get("name") or email.split("@")[0].title())
    return _json({"email": user.email, "name": user.name, "sub": user.sub, "primaryCalendarId": user.email}, 201)


def create_calendar(app, request, email):
    data = _body(request)
    email = email.lower()
    role = data.get("accessRole", "owner")
    if role not in ACCESS_ROLES:
        raise bad_request(f"accessRole must be one of {ACCESS_ROLES}")
    tz = data.get("timeZone", "Europe/Berlin")
    if not timeutil.valid_zone(tz):
        raise bad_request(f"Unknown timeZone {tz}")
    with app.state.lock:
        state = app.state
        if email not in state.users:
            raise ApiError(404, "notFound", f"Unknown user {email}")
        cal_id = data.get("id") or f"c_{secrets.token_hex(13)}@group.calendar.google.com"
        cal = state.calendars.get(cal_id)
        if cal is None:
            if not data.get("summary"):
                raise ApiError(400, "required", "summary is required")
            cal = state.add_calendar(cal_id, data["summary"], owner=email if role == "owner" else None,
                                     time_zone=tz, default_reminders=data.get("defaultReminders"),
                                     description=data.get("description"))
        # An existing id shares that calendar with the user at the given role.
        state.grant_access(cal, email, role)
        return _json({"id": cal.id, "summary": cal.summary, "accessRole": role, "timeZone": cal.time_zone}, 201)


def list_events(app, request, calendar_id):
    with app.state.lock:
        cal = _calendar(app, calendar_id)
        items = [ops.render_event(app.state, cal, ev, _acting_user(cal)) for ev in cal.events.values()]
        for item, ev in zip(items, cal.events.values()):
            item["_changeSeq"] = ev.change_seq
        return _json({"calendarId": cal.id, "items": items})


def create_event(app, request, calendar_id):
    data = _body(request)
    with app.state.mutate():
        cal = _calendar(app, calendar_id)
        body = _event_body(app, data)
        ev = ops.insert_event(app.state, cal, _acting_user(cal), body, conference_version=1)
        return _json(ops.render_event(app.state, cal, ev, _acting_user(cal)), 201)


def patch_event(app, request, calendar_id, event_id):
    data = _body(request)
    with app.state.mutate():
        cal = _calendar(app, calendar_id)
        body = _event_body(app, data)
        ev = ops.update_event(app.state, cal, _acting_user(cal), event_id, body, partial=True, conference_version=1)
        return _json(ops.render_event(app.state, cal, ev, _acting_user(cal)))


def delete_event(app, request, calendar_id, event_id):
    with app.state.mutate():
        cal = _calendar(app, calendar_id)
        ev = ops.delete_event(app.state, cal, event_id)
        return _json(ops.render_event(app.state, cal, ev, _acting_user(cal)))


def respond_event(app, request, calendar_id, event_id):
    data = _body(request)
    if not data.get("email") or not data.get("responseStatus"):
        raise ApiError(400, "required", "email and responseStatus are required")
    with app.state.mutate():
        cal = _calendar(app, calendar_id)
        ev = ops.respond(app.state, cal, event_id, data["email"], data["responseStatus"])
        return _json(ops.render_event(app.state, cal, ev, _acting_user(cal)))


def revoke_user(app, request, email):
    email = email.lower()
    with app.state.lock:
        if email not in app.state.users:
            raise ApiError(404, "notFound", f"Unknown user {email}")
        n = app.state.revoke_grant(email)
    return _json({"email": email, "revoked_tokens": n})


def expire_tokens(app, request):
    data = _body(request)
    email = (data.get("email") or "").lower() or None
    with app.state.lock:
        n = 0
        for tok in app.state.access_tokens.values():
            if (email is None or tok.email == email) and tok.expires_at > app.state.now():
                tok.expires_at = app.state.now() - 1
                n += 1
    return _json({"expired_access_tokens": n})


def add_fault(app, request):
    data = _body(request)
    status = data.get("status")
    latency = int(data.get("latency_ms") or 0)
    if status is None and not latency:
        raise ApiError(400, "required", "status (or latency_ms) is required")
    if status is not None and int(status) not in FAULT_STATUSES:
        raise bad_request(f"status must be one of {sorted(FAULT_STATUSES)}")
    if data.get("path_regex"):
        try:
            re.compile(data["path_regex"])
        except re.error as exc:
            raise bad_request(f"invalid path_regex: {exc}")
    count = int(data.get("count", 1))
    if count == 0 or count < -1:
        raise bad_request("count must be a positive number or -1 (forever)")
    fault = Fault(
        id="f_" + secrets.token_hex(4),
        status=int(status) if status is not None else None,
        method=data.get("method"),
        path_regex=data.get("path_regex"),
        reason=data.get("reason"),
        message=data.get("message"),
        count=count,
        latency_ms=latency,
        email=data.get("email"),
    )
    with app.state.lock:
        app.state.faults.append(fault)
    return _json(fault_view(fault), 201)


def list_faults(app, request):
    with app.state.lock:
        return _json({"faults": [fault_view(f) for f in app.state.faults]})


def clear_faults(app, request):
    with app.state.lock:
        n = len(app.state.faults)
        app.state.faults.clear()
    return _json({"cleared": n})


def invalidate_sync_tokens(app, request):
    data = _body(request)
    with app.state.lock:
        if data.get("calendarId"):
            cals = [_calendar(app, data["calendarId"])]
        else:
            cals = list(app.state.calendars.values())
        for cal in cals:
            cal.sync_generation += 1
        return _json({"invalidated": [c.id for c in cals]})


def list_channels(app, request):
    with app.state.lock:
        return _json({"channels": [channel_view(app, ch) for ch in app.state.channels.values()]})


def expire_channels(app, request):
    data = _body(request)
    with app.state.lock:
        now_ms = int(app.state.now() * 1000)
        chans = list(app.state.channels.values())
        if data.get("id"):
            chans = [ch for ch in chans if ch.id == data["id"]]
            if not chans:
                raise ApiError(404, "notFound", f"Unknown channel {data['id']}")
        for ch in chans:
            ch.expiration_ms = min(ch.expiration_ms, now_ms - 1)
        return _json({"expired": [ch.id for ch in chans]})


def set_notifications(app, request):
    data = _body(request)
    try:
        app.notifier.set_mode(data.get("mode", "normal"), data.get("count"))
    except ValueError as exc:
        raise bad_request(str(exc))
    return _json({"mode": app.notifier.mode, "remaining": app.notifier.mode_remaining})


def get_notifications(app, request):
    return _json({"mode": app.notifier.mode, "remaining": app.notifier.mode_remaining,
                  "log": list(app.notifier.log)})


def flush_notifications(app, request):
    data = _body(request)
    return _json(app.notifier.flush(timeout=float(data.get("timeout", 15))))


def set_config(app, request):
    data = _body(request)
    allowed = {"access_token_ttl_seconds": int, "auth_code_ttl_seconds": int,
               "default_channel_ttl_seconds": int, "push_timeout_seconds": float}
    unknown = set(data) - set(allowed)
    if unknown:
        raise bad_request(f"unknown config keys: {sorted(unknown)}")
    with app.state.lock:
        for key, typ in allowed.items():
            if key in data:
                value = typ(data[key])
                if value <= 0:
                    raise bad_request(f"{key} must be positive")
                setattr(app.config, key, value)
        app.notifier.timeout = app.config.push_timeout_seconds
    return _json(config_view(app))


def get_config(app, request):
    return _json(config_view(app))


def get_requests(app, request):
    since = int(request.args.get("since", 0) or 0)
    want_method = request.args.get("calendar_method")
    want_email = request.args.get("email")
    with app.state.lock:
        items = [dict(e) for e in app.state.request_log if e["seq"] > since
                 and (not want_method or e.get("calendar_method") == want_method)
                 and (not want_email or e.get("email") == want_email)]
        return _json({"requests": items, "last_seq": app.state.last_request_seq})


def clear_requests(app, request):
    with app.state.lock:
        app.state.request_log.clear()
        return _json({"cleared": True, "last_seq": app.state.last_request_seq})


def advance_clock(app, request):
    data = _body(request)
    with app.state.lock:
        app.state.clock_offset += float(data.get("advance_seconds", 0))
        return _json({"clock_offset_seconds": app.state.clock_offset, "now": app.state.now()})


def _reset_all(app) -> None:
    for key in ("access_token_ttl_seconds", "auth_code_ttl_seconds", "default_channel_ttl_seconds",
                "push_timeout_seconds"):
        setattr(app.config, key, getattr(app.initial_config, key))
    app.notifier.timeout = app.config.push_timeout_seconds
    app.state.reset()
    app.notifier.reset()


def reset(app, request):
    _reset_all(app)
    return _json({"reset": True})


# ---- HTML dashboard ---------------------------------------------------------------------
def index(app, request):
    state = app.state
    with state.lock:
        snapshot = state_snapshot(app)
        cal_events = []
        for cal in state.calendars.values():
            evs = sorted(cal.events.values(), key=lambda e: e.start_utc)
            cal_events.append({
                "id": cal.id, "summary": cal.summary, "timeZone": cal.time_zone,
                "owner": ops.calendar_owner(cal),
                "events": [ops.render_event(state, cal, e, _acting_user(cal)) for e in evs],
            })
        recent = list(state.request_log)[-50:][::-1]
    html = app.render("index.html", s=snapshot, calendars=cal_events, recent=recent,
                      log=list(app.notifier.log)[-30:][::-1], msg=request.args.get("msg"),
                      error=request.args.get("error"))
    return Response(html, mimetype="text/html")


def _back(msg: str | None = None, error: str | None = None) -> Response:
    resp = Response(status=303)
    q = {k: v for k, v in (("msg", msg), ("error", error)) if v}
    resp.headers["Location"] = "/" + ("?" + urlencode(q) if q else "")
    return resp


def _local_dt(value: str, tz: str) -> dict:
    """A datetime-local form value is a wall-clock time in the calendar's zone."""
    naive = datetime.fromisoformat(value)
    return {"dateTime": naive.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz}


def ui_action(app, request, action):
    form = request.form
    try:
        if action == "events/create":
            with app.state.mutate():
                cal = _calendar(app, form["calendar_id"])
                body = {"summary": form.get("summary") or "(No title)",
                        "start": _local_dt(form["start"], cal.time_zone),
                        "end": _local_dt(form["end"], cal.time_zone)}
                attendees = [a.strip() for a in (form.get("attendees") or "").split(",") if a.strip()]
                if attendees:
                    body["attendees"] = [{"email": a} for a in attendees]
                ev = ops.insert_event(app.state, cal, _acting_user(cal), body, conference_version=1)
            return _back(f"Created event {ev.data['id']}")
        if action == "events/move":
            with app.state.mutate():
                cal = _calendar(app, form["calendar_id"])
                body = {"start": _local_dt(form["start"], cal.time_zone), "end": _local_dt(form["end"], cal.time_zone)}
                ops.update_event(app.state, cal, _acting_user(cal), form["event_id"], body, partial=True,
                                 conference_version=1)
            return _back(f"Moved event {form['event_id']}")
        if action == "events/delete":
            with app.state.mutate():
                cal = _calendar(app, form["calendar_id"])
                ops.delete_event(app.state, cal, form["event_id"])
            return _back(f"Deleted event {form['event_id']}")
        if action == "users/revoke":
            n = app.state.revoke_grant(form["email"].lower())
            return _back(f"Revoked {n} tokens of {form['email']}")
        if action == "users/create":
            email = form["email"].strip().lower()
            with app.state.lock:
                if email in app.state.users:
                    return _back(error=f"{email} already exists")
                app.state.add_user(email, form.get("name") or email.split("@")[0].title())
            return _back(f"Created user {email}")
        if action == "faults":
            status = form.get("status")
            fault = Fault(
                id="f_" + secrets.token_hex(4),
                status=int(status) if status else None,
                method=form.get("method") or None,
                path_regex=form.get("path_regex") or None,
                reason=form.get("reason") or None,
                count=int(form.get("count") or 1),
                latency_ms=int(form.get("latency_ms") or 0),
                email=form.get("email") or None,
            )
            if fault.status is None and not fault.latency_ms:
                return _back(error="A fault needs a status or a latency")
            with app.state.lock:
                app.state.faults.append(fault)
            return _back(f"Added fault {fault.id}")
        if action == "faults/clear":
            with app.state.lock:
                app.state.faults.clear()
            return _back("Cleared faults")
        if action == "notifications":
            app.notifier.set_mode(form.get("mode", "normal"))
            return _back(f"Notification mode {app.notifier.mode}")
        if action == "sync_tokens/invalidate":
            with app.state.lock:
                for cal in app.state.calendars.values():
                    cal.sync_generation += 1
            return _back("Invalidated all sync tokens")
        if action == "reset":
            _reset_all(app)
            return _back("Reset to seeded state")
    except ApiError as exc:
        return _back(error=exc.message)
    except (KeyError, ValueError) as exc:
        return _back(error=f"Invalid form input: {exc}")
    return _back(error=f"Unknown action {action}")
