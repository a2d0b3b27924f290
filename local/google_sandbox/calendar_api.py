"""Calendar v3 endpoints: auth, scope and discovery checks, then method handlers."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from . import calendar_ops as ops
from . import timeutil
from .discovery import Method, apply_fields, parse_fields
from .errors import ApiError, bad_request
from .store import ROLE_RANK, AccessToken, Channel, State

AUTH_HELP = "See https://developers.google.com/identity/sign-in/web/devconsole-project."
OWNED_ONLY_SCOPES = {
    "https://www.googleapis.com/auth/calendar.events.owned",
    "https://www.googleapis.com/auth/calendar.events.owned.readonly",
}
APP_CREATED_SCOPE = "https://www.googleapis.com/auth/calendar.app.created"
# Parameters Google refuses to combine with syncToken (they would change the result set).
SYNC_INCOMPATIBLE = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty",
                     "timeMin", "timeMax", "updatedMin")
MAX_FREEBUSY_DAYS = 90
MAX_FREEBUSY_CALENDARS = 50


@dataclass
class Ctx:
    app: Any
    request: Request
    method: Method
    path: dict
    params: dict
    body: Any
    token: AccessToken
    matched_scopes: set

    @property
    def state(self) -> State:
        return self.app.state

    @property
    def email(self) -> str:
        return self.token.email

    def calendar(self, min_role: str = "reader", calendar_id: str | None = None):
        cal = ops.resolve_calendar(self.state, self.email, calendar_id or self.path["calendarId"], min_role)
        self._check_scope_reach(cal)
        return cal

    def _check_scope_reach(self, cal) -> None:
        """Scopes limited to owned / app-created calendars do not reach other calendars."""
        if self.matched_scopes <= OWNED_ONLY_SCOPES and self.state.role(cal, self.email) != "owner":
            raise _insufficient_scopes(self.method)
        if self.matched_scopes == {APP_CREATED_SCOPE}:
            raise _insufficient_scopes(self.method)


def _insufficient_scopes(method: Method) -> ApiError:
    rpc_method = "calendar.v3." + ".".join(p[0].upper() + p[1:] for p in method.id.split(".")[1:])
    return ApiError(
        403, "insufficientPermissions", "Insufficient Permission",
        top_message="Request had insufficient authentication scopes.",
        details=[{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "calendar-json.googleapis.com", "method": rpc_method},
        }],
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", '
                                     f'scope="{" ".join(method.scopes)}"'},
    )


def authenticate(app, request: Request, query: dict) -> AccessToken:
    header = request.headers.get("Authorization", "")
    raw = header[7:].strip() if header.lower().startswith("bearer ") else (query.get("oauth_token") or [None])[0]
    if not raw:
        raise ApiError(
            401, "required", "Login Required.", location="Authorization", location_type="header",
            top_message="Request is missing required authentication credential. Expected OAuth 2 access token, "
                        "login cookie or other valid authentication credential. " + AUTH_HELP,
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    tok = app.state.lookup_access_token(raw)
    if tok is None:
        raise ApiError(
            401, "authError", "Invalid Credentials", location="Authorization", location_type="header",
            top_message="Request had invalid authentication credentials. Expected OAuth 2 access token, "
                        "login cookie or other valid authentication credential. " + AUTH_HELP,
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
        )
    return tok


def handle(app, request: Request, raw_subpath: str) -> Response:
    method, path_params = app.discovery.route(request.method, raw_subpath)
    request.environ["sandbox.calendar_method"] = method.id
    query = {k: request.args.getlist(k) for k in request.args.keys()}
    token = authenticate(app, request, query)
    request.environ["sandbox.email"] = token.email
    matched = set(method.scopes) & set(token.scopes)
    if not matched:
        raise _insufficient_scopes(method)
    params = app.discovery.validate_query(method, query)
    body = None
    if method.request_ref:
        raw = request.get_data(cache=True)
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(400, "parseError", "Parse Error")
        else:
            body = {}
        app.discovery.validate_body(method, body)
    handler = HANDLERS.get(method.id)
    if handler is None:
        raise ApiError(501, "notImplemented",
                       f"The Google sandbox does not implement {method.id} ({method.http_method} {method.path}).")
    ctx = Ctx(app, request, method, path_params, params, body, token, matched)
    status, payload = handler(ctx)
    if payload is None:
        return Response(status=status)
    if status == 304:
        return Response(status=304)
    if params.get("fields"):
        try:
            payload = apply_fields(payload, parse_fields(params["fields"]))
        except ValueError as exc:
            raise ApiError(400, "invalidParameter", f"Invalid field selection {params['fields']}: {exc}",
                           location="fields", location_type="parameter")
    indent = None if params.get("prettyPrint") is False else 2
    return Response(json.dumps(payload, indent=indent), status=status, mimetype="application/json")


# ---- tokens ---------------------------------------------------------------------------
def _encode_token(prefix: str, data: dict) -> str:
    return prefix + base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_token(prefix: str, raw: str) -> dict | None:
    if not raw.startswith(prefix):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw[len(prefix):].encode()))
        return data if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def _bad_page_token() -> ApiError:
    return ApiError(400, "invalid", "Invalid pageToken value.", location="pageToken", location_type="parameter")


def _full_sync_required() -> ApiError:
    return ApiError(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")


# ---- calendarList / calendars ------------------------------------------------------------
def _list_entry(state: State, cal, email: str) -> dict:
    role = state.role(cal, email)
    color_id, bg, fg = cal.color
    entry = {
        "kind": "calendar#calendarListEntry",
        "etag": f'"{cal.list_seq.get(email, 0)}"',
        "id": cal.id,
        "summary": cal.summary,
    }
    if cal.description:
        entry["description"] = cal.description
    entry.update({
        "timeZone": cal.time_zone,
        "colorId": color_id,
        "backgroundColor": bg,
        "foregroundColor": fg,
        "selected": True,
        "accessRole": role,
        "defaultReminders": [dict(r) for r in cal.default_reminders] if ROLE_RANK[role] >= ROLE_RANK["writer"] else [],
    })
    if role == "owner":
        entry["notificationSettings"] = {"notifications": [
            {"type": t, "method": "email"} for t in ("eventCreation", "eventChange", "eventCancellation", "eventResponse")
        ]}
    if cal.id == email:
        entry["primary"] = True
    entry["conferenceProperties"] = {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}
    return entry


def calendar_list_list(ctx: Ctx):
    p = ctx.params
    with ctx.state.lock:
        state = ctx.state
        sync_base = None
        if "syncToken" in p:
            if "minAccessRole" in p or "showOwnOrganizationOnly" in p:
                raise bad_request("The minAccessRole and showOwnOrganizationOnly parameters cannot be used "
                                  "together with syncToken.")
            tok = _decode_token("CL", p["syncToken"])
            if not tok or tok.get("u") != ctx.email:
                raise _full_sync_required()
            sync_base = tok["s"]
        offset, snapshot = 0, state.seq
        if "pageToken" in p:
            tok = _decode_token("LP", p["pageToken"])
            if not tok:
                raise _bad_page_token()
            offset, snapshot = tok["o"], tok["s"]
        min_rank = ROLE_RANK[p["minAccessRole"]] if "minAccessRole" in p else 0
        cals = [c for c in state.calendars.values()
                if state.role(c, ctx.email) != "none" and ROLE_RANK[state.role(c, ctx.email)] >= min_rank
                and (sync_base is None or c.list_seq.get(ctx.email, 0) > sync_base)]
        cals.sort(key=lambda c: (c.id != ctx.email, c.summary.lower(), c.id))
        size = min(p.get("maxResults", 100), 250)
        page = cals[offset: offset + size]
        out = {"kind": "calendar#calendarList", "etag": f'"p{snapshot}"',
               "items": [_list_entry(state, c, ctx.email) for c in page]}
        if offset + size < len(cals):
            extra = {"o": offset + size, "s": snapshot}
            out["nextPageToken"] = _encode_token("LP", extra)
        else:
            out["nextSyncToken"] = _encode_token("CL", {"u": ctx.email, "s": snapshot})
        return 200, out


def calendar_list_get(ctx: Ctx):
    with ctx.state.lock:
        cal = ctx.calendar("freeBusyReader")
        return 200, _list_entry(ctx.state, cal, ctx.email)


def calendars_get(ctx: Ctx):
    with ctx.state.lock:
        cal = ctx.calendar("freeBusyReader")
        out = {"kind": "calendar#calendar", "etag": f'"c{cal.etag_seq}"', "id": cal.id, "summary": cal.summary}
        if cal.description:
            out["description"] = cal.description
        out["timeZone"] = cal.time_zone
        out["conferenceProperties"] = {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}
        return 200, out


# ---- events ---------------------------------------------------------------------------
def _conference_version(ctx: Ctx) -> int:
    return int(ctx.params.get("conferenceDataVersion", 0))


def _tz_param(ctx: Ctx) -> str | None:
    tz = ctx.params.get("timeZone")
    if tz is not None and not timeutil.valid_zone(tz):
        raise ApiError(400, "invalid", "Invalid time zone value.", location="timeZone", location_type="parameter")
    return tz


def _render(ctx: Ctx, cal, ev, tz=None) -> dict:
    return ops.render_event(ctx.state, cal, ev, ctx.email, tz, ctx.params.get("maxAttendees"))


def events_insert(ctx: Ctx):
    with ctx.state.mutate():
        cal = ctx.calendar("writer")
        ev = ops.insert_event(ctx.state, cal, ctx.email, ctx.body, conference_version=_conference_version(ctx))
        return 200, _render(ctx, cal, ev)


def events_get(ctx: Ctx):
    tz = _tz_param(ctx)
    with ctx.state.lock:
        cal = ctx.calendar("reader")
        ev = ops.get_event(cal, ctx.path["eventId"])
        inm = ctx.request.headers.get("If-None-Match")
        if inm and ev.etag in {t.strip().removeprefix("W/") for t in inm.split(",")}:
            return 304, {}
        return 200, _render(ctx, cal, ev, tz)


def _write(ctx: Ctx, partial: bool):
    with ctx.state.mutate():
        cal = ctx.calendar("writer")
        ev = ops.get_event(cal, ctx.path["eventId"])
        ops.check_if_match(ev, ctx.request.headers.get("If-Match"))
        ev = ops.update_event(ctx.state, cal, ctx.email, ctx.path["eventId"], ctx.body, partial=partial,
                              conference_version=_conference_version(ctx))
        return 200, _render(ctx, cal, ev)


def events_patch(ctx: Ctx):
    return _write(ctx, partial=True)


def events_update(ctx: Ctx):
    return _write(ctx, partial=False)


def events_delete(ctx: Ctx):
    with ctx.state.mutate():
        cal = ctx.calendar("writer")
        ev = ops.get_event(cal, ctx.path["eventId"])
        ops.check_if_match(ev, ctx.request.headers.get("If-Match"))
        ops.delete_event(ctx.state, cal, ctx.path["eventId"])
        return 204, None


def _parse_bound(ctx: Ctx, name: str):
    try:
        return timeutil.parse_rfc3339(ctx.params[name])
    except ValueError:
        raise ApiError(400, "badRequest", "Bad Request", location=name, location_type="parameter")


def _property_filters(ctx: Ctx, name: str) -> list[tuple[str, str]]:
    out = []
    for item in ctx.params.get(name, []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ApiError(400, "invalid", f"Invalid value for: {name}", location=name, location_type="parameter")
        out.append((key, value))
    return out


def _matches_q(ev, terms: list[str]) -> bool:
    d = ev.data
    hay = [d.get("summary", ""), d.get("description", ""), d.get("location", ""),
           d.get("organizer", {}).get("email", ""), d.get("organizer", {}).get("displayName", "")]
    for a in d.get("attendees", []):
        hay += [a.get("email", ""), a.get("displayName", "")]
    text = " ".join(h for h in hay if h).lower()
    return all(t in text for t in terms)


def events_list(ctx: Ctx):
    p = ctx.params
    tz = _tz_param(ctx)
    order = p.get("orderBy")
    if order == "startTime" and not p.get("singleEvents"):
        raise ApiError(400, "badRequest", "The requested ordering is not available for the particular query.")
    sync = p.get("syncToken")
    if sync is not None:
        bad = [n for n in SYNC_INCOMPATIBLE if n in p]
        if bad:
            raise ApiError(400, "invalid",
                           f"The parameters {', '.join(bad)} cannot be combined with syncToken.",
                           location=bad[0], location_type="parameter")
    time_min = _parse_bound(ctx, "timeMin") if "timeMin" in p else None
    time_max = _parse_bound(ctx, "timeMax") if "timeMax" in p else None
    if time_min and time_max and time_min > time_max:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    updated_min = _parse_bound(ctx, "updatedMin") if "updatedMin" in p else None
    private = _property_filters(ctx, "privateExtendedProperty")
    shared = _property_filters(ctx, "sharedExtendedProperty")
    terms = (p.get("q") or "").lower().split()
    types = set(p.get("eventTypes") or [])

    with ctx.state.lock:
        state = ctx.state
        cal = ctx.calendar("reader")
        sync_base = None
        if sync is not None:
            tok = _decode_token("CP", sync)
            if not tok or tok.get("c") != cal.id or tok.get("g") != cal.sync_generation:
                raise _full_sync_required()
            sync_base = tok["s"]
        snapshot, after = state.seq, None
        if "pageToken" in p:
            tok = _decode_token("EP", p["pageToken"])
            if not tok or tok.get("c") != cal.id:
                raise _bad_page_token()
            snapshot, after = tok["s"], tuple(tok["k"])

        show_deleted = p.get("showDeleted", False) or sync_base is not None or updated_min is not None
        selected = []
        for ev in cal.events.values():
            d = ev.data
            if sync_base is not None and ev.change_seq <= sync_base:
                continue
            if d.get("status") == "cancelled" and not show_deleted:
                continue
            if time_min and ev.end_utc <= time_min and not (ev.end_utc == ev.start_utc == time_min):
                continue
            if time_max and ev.start_utc >= time_max:
                continue
            if updated_min and timeutil.parse_rfc3339(d["updated"]) < updated_min:
                continue
            if "iCalUID" in p and d.get("iCalUID") != p["iCalUID"]:
                continue
            ext = d.get("extendedProperties", {})
            if any(ext.get("private", {}).get(k) != v for k, v in private):
                continue
            if any(ext.get("shared", {}).get(k) != v for k, v in shared):
                continue
            if terms and not _matches_q(ev, terms):
                continue
            if types and d.get("eventType", "default") not in types:
                continue
            selected.append(ev)

        # Keyset paging on a stable key so concurrent changes cannot shift pages.
        if order == "startTime":
            def key(e): return (e.start_utc.timestamp(), e.create_seq)
        elif order == "updated":
            def key(e): return (e.change_seq, e.create_seq)
        else:
            def key(e): return (e.create_seq,)
        selected.sort(key=key)
        if after is not None:
            selected = [e for e in selected if key(e) > after]
        size = min(p.get("maxResults", 250), 2500)
        page, more = selected[:size], len(selected) > size

        role = state.role(cal, ctx.email)
        updated = max((e.data["updated"] for e in cal.events.values()), default=None) or \
            timeutil.format_utc_millis(timeutil.from_epoch(state.now()))
        out = {"kind": "calendar#events", "etag": f'"{snapshot}"', "summary": cal.summary}
        if cal.description:
            out["description"] = cal.description
        out.update({
            "updated": updated,
            "timeZone": tz or cal.time_zone,
            "accessRole": role,
            "defaultReminders": [dict(r) for r in cal.default_reminders] if ROLE_RANK[role] >= ROLE_RANK["writer"] else [],
        })
        if more:
            out["nextPageToken"] = _encode_token("EP", {"c": cal.id, "s": snapshot, "k": list(key(page[-1]))})
        else:
            out["nextSyncToken"] = _encode_token("CP", {"c": cal.id, "s": snapshot, "g": cal.sync_generation})
        out["items"] = [_render(ctx, cal, e, tz) for e in page]
        return 200, out


# ---- watch / channels ------------------------------------------------------------------
def _resource_id(calendar_id: str) -> str:
    # Stable per watched resource, like Google's: all channels on one calendar share it.
    return base64.urlsafe_b64encode(hashlib.sha256(calendar_id.encode()).digest()).decode()[:27]


def events_watch(ctx: Ctx):
    body = ctx.body or {}
    channel_id = body.get("id")
    if not channel_id:
        raise ApiError(400, "required", "Missing channel id.", location="id", location_type="parameter")
    if body.get("type") not in ("web_hook", "webhook"):
        raise ApiError(400, "invalid", f"Invalid channel type: {body.get('type')!r}. Supported: web_hook.")
    address = body.get("address") or ""
    if not address.startswith(("https://", "http://")):
        # Google insists on https; the sandbox also allows http for local receivers.
        raise ApiError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address)
    cfg = ctx.app.config
    ttl = cfg.default_channel_ttl_seconds
    params = body.get("params") or {}
    if "ttl" in params:
        try:
            ttl = int(params["ttl"])
        except (TypeError, ValueError):
            raise ApiError(400, "invalid", f"Invalid ttl value: {params['ttl']}")
    ttl = max(1, min(ttl, cfg.max_channel_ttl_seconds))
    with ctx.state.mutate():
        state = ctx.state
        cal = ctx.calendar("reader")
        if channel_id in state.channels:
            raise ApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
        now = state.now()
        expiration_ms = int((now + ttl) * 1000)
        if body.get("expiration"):
            try:
                expiration_ms = min(expiration_ms, int(body["expiration"]))
            except (TypeError, ValueError):
                raise ApiError(400, "invalid", "Invalid expiration value.")
        base = ctx.request.host_url.rstrip("/")
        extra = "".join(f"&{k}={quote(str(v))}" for k, v in ctx.params.items()
                        if k not in ("alt", "prettyPrint", "fields", "key", "oauth_token", "quotaUser", "userIp")
                        and not isinstance(v, list))
        ch = Channel(
            id=channel_id,
            resource_id=_resource_id(cal.id),
            resource_uri=f"{base}/calendar/v3/calendars/{quote(ctx.path['calendarId'], safe='@')}/events?alt=json{extra}",
            calendar_id=cal.id,
            address=address,
            token=body.get("token"),
            expiration_ms=expiration_ms,
            email=ctx.email,
            created_at=now,
        )
        state.channels[ch.id] = ch
        state.queue_notification(ops.channel_notification(ch, "sync"))
        out = {"kind": "api#channel", "id": ch.id, "resourceId": ch.resource_id, "resourceUri": ch.resource_uri}
        if ch.token:
            out["token"] = ch.token
        out["expiration"] = str(ch.expiration_ms)
        return 200, out


def channels_stop(ctx: Ctx):
    body = ctx.body or {}
    with ctx.state.lock:
        ch = ctx.state.channels.get(body.get("id") or "")
        if ch is None or ch.stopped or (body.get("resourceId") and body["resourceId"] != ch.resource_id):
            raise ApiError(404, "notFound", f"Channel '{body.get('id')}' not found for project 'calbridge-sandbox'")
        ch.stopped = True
        return 204, None


# ---- freeBusy --------------------------------------------------------------------------
def freebusy_query(ctx: Ctx):
    body = ctx.body or {}
    for name in ("timeMin", "timeMax"):
        if not body.get(name):
            raise ApiError(400, "required", f"Missing {name} parameter.")
    try:
        t_min = timeutil.parse_rfc3339(body["timeMin"])
        t_max = timeutil.parse_rfc3339(body["timeMax"])
    except ValueError:
        raise ApiError(400, "badRequest", "Bad Request")
    if t_min >= t_max:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    if t_max - t_min > timedelta(days=MAX_FREEBUSY_DAYS):
        raise ApiError(400, "timeRangeTooLong", "The requested time range is too long.")
    tz = body.get("timeZone")
    if tz is not None and not timeutil.valid_zone(tz):
        raise ApiError(400, "invalid", "Invalid time zone value.")
    items = body.get("items") or []
    if len(items) > MAX_FREEBUSY_CALENDARS:
        raise ApiError(400, "tooManyCalendarsRequested", "The number of calendars requested is too large.")

    def fmt(dt):
        return timeutil.format_in_zone(dt, tz) if tz else timeutil.format_utc(dt)

    calendars: dict = {}
    with ctx.state.lock:
        state = ctx.state
        for item in items:
            cal_id = (item or {}).get("id") or ""
            real_id = ctx.email if cal_id == "primary" else cal_id
            cal = state.calendars.get(real_id)
            if cal is None or state.role(cal, ctx.email) == "none":
                calendars[cal_id] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            spans = sorted(
                (max(ev.start_utc, t_min), min(ev.end_utc, t_max))
                for ev in cal.events.values()
                if ops.is_busy_for(ev, cal) and ev.start_utc < t_max and ev.end_utc > t_min
                and ev.end_utc > ev.start_utc
            )
            merged: list = []
            for start, end in spans:
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            calendars[cal_id] = {"busy": [{"start": fmt(s), "end": fmt(e)} for s, e in merged]}
    return 200, {"kind": "calendar#freeBusy", "timeMin": fmt(t_min), "timeMax": fmt(t_max), "calendars": calendars}


HANDLERS: dict[str, Callable[[Ctx], tuple]] = {
    "calendar.calendarList.list": calendar_list_list,
    "calendar.calendarList.get": calendar_list_get,
    "calendar.calendars.get": calendars_get,
    "calendar.events.insert": events_insert,
    "calendar.events.get": events_get,
    "calendar.events.list": events_list,
    "calendar.events.patch": events_patch,
    "calendar.events.update": events_update,
    "calendar.events.delete": events_delete,
    "calendar.events.watch": events_watch,
    "calendar.channels.stop": channels_stop,
    "calendar.freebusy.query": freebusy_query,
}
