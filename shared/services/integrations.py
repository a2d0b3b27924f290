"""Use cases of the Integrations page and API: connect Google accounts (OAuth web-server flow),
list them, choose the default calendar and the conflict calendars, refresh, disconnect.

Connect flow: `start_connect` stores a random `state` in `oauth_states` with the PKCE verifier,
the member and a hash of a browser binding nonce (a short-lived cookie set by the route), and
returns Google's URL. `finish_connect` consumes the state once in a transaction, checks that
the same browser returns (the binding cookie) and, when a session is present, the same member,
then exchanges the code, checks the granted scopes and the id_token, reads the calendar list and
only then stores anything. Every failure raises an AppError whose `code` the page explains.

A refresh token comes only from an exchange that followed a consent screen. The first attempt
lets the user pick an account without forcing consent; when Google then sends no refresh token
and we hold no live one for that account, the browser is sent back once with prompt=consent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared import errors, secrets
from shared.adapters import google_oauth
from shared.adapters.firestore import db, is_document_id, transactional
from shared.adapters.google_calendar import GoogleCalendar, forget_token
from shared.logs import get_logger, log
from shared.services import google_accounts, members
from shared.services.members import Member

logger = get_logger("integrations")

OAUTH_STATES = "oauth_states"
STATE_TTL = timedelta(minutes=10)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _require_owner(member: Member) -> None:
    # Routes check this first with the same code; here it guards direct callers too.
    if not member.is_owner:
        raise errors.Forbidden("only the account owner can change the Google Calendar integration",
                               code="owner_only")


# --- connect ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectStart:
    url: str
    binding: str  # goes into the browser's cookie; only its hash is stored


@dataclass(frozen=True)
class Connected:
    google_account_id: str
    email: str
    created: bool
    default_set: bool


def new_binding() -> str:
    return _secrets.token_urlsafe(24)


def start_connect(member: Member, *, binding: str, login_hint: str | None = None,
                  force_consent: bool = False) -> ConnectStart:
    _require_owner(member)
    state = _secrets.token_urlsafe(32)
    # select_account lets the owner add a second Google account instead of the signed-in one.
    prompt = "consent" if force_consent else "select_account"
    url, verifier = google_oauth.authorization_url(state=state, prompt=prompt,
                                                   login_hint=login_hint)
    db().collection(OAUTH_STATES).document(state).set({
        "account_id": member.account_id,
        "member_id": member.id,
        "code_verifier": verifier,
        "binding_hash": _digest(binding),
        "force_consent": force_consent,
        "created_at": _now(),
        # Firestore's TTL policy on expires_at deletes old states (infra); reads check it too.
        "expires_at": _now() + STATE_TTL,
        "used": False,
    })
    return ConnectStart(url=url, binding=binding)


def _consume_state(state: str, binding: str | None) -> dict:
    invalid = errors.InvalidInput(
        "This sign-in link is not valid any more (it was already used, has expired or was "
        "started elsewhere). Please start connecting again.",
        code="oauth_state_invalid",
    )
    if len(state) > 200 or not is_document_id(state):
        raise invalid
    ref = db().collection(OAUTH_STATES).document(state)

    @transactional
    def consume(transaction) -> dict:
        snap = ref.get(transaction=transaction)
        if not snap.exists:
            raise invalid
        data = snap.to_dict()
        if data.get("used") or data["expires_at"] <= _now():
            raise invalid
        if not binding or not hmac.compare_digest(data["binding_hash"], _digest(binding)):
            raise errors.Forbidden(
                "This sign-in was started in another browser or session. Please start "
                "connecting again from the Integrations page.",
                code="oauth_state_mismatch",
            )
        transaction.update(ref, {"used": True, "used_at": _now()})
        return data

    return consume(db().transaction())


def _scopes_missing(missing: list[str]) -> errors.AppError:
    return errors.InvalidInput(
        "Google did not grant every permission calbridge needs; nothing was connected. "
        "Please connect again and keep all boxes ticked.",
        code="oauth_scopes_missing",
        details={"missing_scopes": missing},
    )


def finish_connect(params: dict, *, binding: str | None,
                   session_member: Member | None) -> Connected | ConnectStart:
    """Handle Google's redirect. Returns Connected, or a ConnectStart when the browser must go
    back to Google for consent (no refresh token came)."""
    data = _consume_state(params.get("state", ""), binding)
    if params.get("error"):
        if params["error"] == "access_denied":
            raise errors.InvalidInput(
                "You did not allow calbridge to access Google Calendar, so nothing was connected.",
                code="oauth_denied",
            )
        raise errors.InvalidInput(
            f"Google reported a problem ({params['error'][:80]}); nothing was connected.",
            code="oauth_error",
        )
    member = members.get_member(data["member_id"])
    if member is None or (session_member is not None and session_member.id != member.id):
        raise errors.Forbidden(
            "This sign-in belongs to another member. Please start connecting again.",
            code="oauth_state_mismatch",
        )
    _require_owner(member)
    code = params.get("code", "")
    if not code or len(code) > 2048:
        raise errors.InvalidInput("Google's answer had no authorization code; please start again.",
                                  code="oauth_error")
    if params.get("scope"):
        missing = google_oauth.missing_scopes(params["scope"])
        if missing:
            raise _scopes_missing(missing)

    token = google_oauth.exchange_code(code, data["code_verifier"])
    missing = google_oauth.missing_scopes(token.get("scope", ""))
    if missing or not token.get("id_token"):
        # The grant exists at Google now; withdraw what we were given since we keep nothing.
        google_oauth.revoke(token.get("refresh_token") or token.get("access_token", ""))
        raise _scopes_missing(missing or ["openid"])
    claims = google_oauth.verify_id_token(token["id_token"])
    email = claims.get("email", "")
    gid = google_accounts.google_account_id(member.account_id, claims["sub"])

    refresh_token = token.get("refresh_token") or _live_refresh_token(gid)
    if not refresh_token:
        if data.get("force_consent"):
            raise errors.InvalidInput(
                "Google did not grant offline access; please start connecting again.",
                code="oauth_no_refresh_token",
            )
        return start_connect(member, binding=binding, login_hint=email, force_consent=True)

    entries = _fetch_calendars(gid, refresh_token)
    saved = google_accounts.save_connection(
        account_id=member.account_id, sub=claims["sub"], email=email,
        refresh_token=refresh_token,
        scopes=sorted(google_oauth.normalize_scopes(token.get("scope", ""))),
        calendar_entries=entries,
    )
    log(logger, logging.INFO, "Google account connected", google_account_id=gid,
        account_id=member.account_id, created=saved.created)
    _watch_calendars(member.account_id)
    return Connected(gid, email, saved.created, saved.default_set)


def _live_refresh_token(gid: str) -> str | None:
    """The stored refresh token of a still-connected account, reused when Google sends none."""
    try:
        ga = google_accounts.get(gid)
    except errors.NotFound:
        return None
    return google_accounts.decrypted_refresh_token(ga) if ga.connected else None


def _fetch_calendars(gid: str, refresh_token: str) -> list[dict]:
    forget_token(gid)  # an access token cached from an earlier connection may be revoked
    client = GoogleCalendar(
        google_account_id=gid, refresh_token=refresh_token,
        client_secret=secrets.get(secrets.OAUTH_CLIENT_SECRET),
    )
    try:
        return client.list_calendars()
    except errors.CalendarAuthRevoked:
        raise errors.InvalidInput(
            "Google withdrew the access right after granting it; please connect again.",
            code="oauth_code_rejected",
        ) from None


# --- listing and settings --------------------------------------------------------------------


def overview(account_id: str) -> dict:
    """Everything the Integrations page and GET /api/integrations show."""
    account = members.get_account(account_id)
    default = account.get("default_calendar")
    accounts = []
    default_view = None
    for ga in google_accounts.read_connections(account_id, account).accounts:
        cals = []
        for cal in google_accounts.calendars(ga.id):
            is_default = bool(default and default.get("google_account_id") == ga.id
                              and default.get("calendar_id") == cal["calendar_id"])
            cals.append({**cal, "is_default": is_default})
            if is_default:
                default_view = {"google_account_id": ga.id, "calendar_id": cal["calendar_id"],
                                "summary": cal["summary"], "email": ga.email}
        accounts.append({
            "id": ga.id,
            "email": ga.email,
            "status": ga.status,
            "connected_at": ga.connected_at,
            "scopes": list(ga.scopes),
            "calendars": cals,
        })
    return {
        "google_accounts": accounts,
        "default_calendar": default_view,
        "default_required": bool(accounts) and default_view is None,
        "meet_enabled": bool(account.get("meet_enabled")),
    }


def _watch_calendars(account_id: str) -> None:
    """Push channels follow the calendars in use (imported here: the webhook's schemas are
    not needed for this function's cold start)."""
    from shared.services import channels

    channels.ensure_channels(account_id)


def set_default(member: Member, gid: str, calendar_id: str) -> dict:
    _require_owner(member)
    chosen = google_accounts.set_default_calendar(member.account_id, gid, calendar_id)
    _watch_calendars(member.account_id)
    return chosen


def set_conflict_check(member: Member, gid: str, calendar_id: str, enabled: bool) -> dict:
    _require_owner(member)
    changed = google_accounts.set_conflict_check(member.account_id, gid, calendar_id, enabled)
    _watch_calendars(member.account_id)
    return changed


def refresh_calendars(member: Member, gid: str) -> dict:
    """Fetch the calendar list again; a revoked grant marks the account (and raises 409)."""
    _require_owner(member)
    ga = google_accounts.get_for_account(member.account_id, gid)
    entries = google_accounts.calendar_client(ga).list_calendars()
    cleared = google_accounts.replace_calendars(gid, entries)
    _watch_calendars(member.account_id)
    return {"calendars": google_accounts.calendars(gid), "default_cleared": cleared}


def disconnect(member: Member, gid: str) -> dict:
    """Stop the account's watch channels, revoke its grant at Google, delete its token and
    calendars. Google being unreachable does not keep the owner from disconnecting: channels
    expire on their own and the grant can be removed in the Google account's settings."""
    _require_owner(member)
    ga = google_accounts.get_for_account(member.account_id, gid)
    from shared.services import channels

    channels.stop_for_google_account(gid)  # before the revoke: stopping needs the grant
    revoked = google_oauth.revoke(google_accounts.decrypted_refresh_token(ga))
    cleared = google_accounts.delete(gid)
    log(logger, logging.INFO, "Google account disconnected", google_account_id=gid,
        revoked=revoked, default_cleared=cleared)
    return {"google_account_id": gid, "email": ga.email, "revoked": revoked,
            "default_cleared": cleared}
