"""Connected Google accounts and their calendars, as stored in Firestore, and the one way to
talk to a connected account's calendars (`calendar_client`).

A calbridge account may connect several Google accounts; each is the document
`google_accounts/{account_id}_{google sub}` (connecting the same Google account again updates it)
with its refresh token encrypted (shared/crypto.py, bound to the document id) and its calendar
list in the `calendars` subcollection, keyed by sha1(calendar_id) because calendar ids contain
characters Firestore ids must not.

Broken connections: when Google answers invalid_grant to any call made through
`calendar_client`, the account is marked "reconnect needed" and the owner is emailed once. The
mark is a Firestore transaction that also claims the notification, so concurrent failures (a
booking and a sync at the same moment) send one email; a successful reconnect re-arms it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from shared import crypto, errors, secrets
from shared.adapters.firestore import Changed, db, read, transactional, update_unchanged
from shared.adapters.google_calendar import GoogleCalendar, forget_token
from shared.logs import get_logger, log
from shared.services import members

logger = get_logger("google_accounts")

GOOGLE_ACCOUNTS = "google_accounts"
CALENDARS = "calendars"
ACCOUNTS = "accounts"
SYNC_STATE = "sync_state"

CONNECTED = "connected"
RECONNECT_NEEDED = "reconnect_needed"
WRITABLE_ROLES = ("writer", "owner")
MAX_CALENDARS = 450


@dataclass(frozen=True)
class GoogleAccount:
    id: str
    account_id: str
    email: str
    sub: str
    status: str
    scopes: tuple[str, ...]
    connected_at: datetime | None
    created_at: datetime | None
    refresh_token_enc: str = field(repr=False)
    # Copied from the calendars subcollection on every change to it, so availability (every
    # slot lookup and booking) reads one document per Google account instead of a query.
    conflict_calendar_ids: tuple[str, ...] = ()

    @property
    def connected(self) -> bool:
        return self.status == CONNECTED

    @classmethod
    def from_doc(cls, doc_id: str, data: dict) -> "GoogleAccount":
        return cls(
            id=doc_id,
            account_id=data["account_id"],
            email=data.get("email", ""),
            sub=data.get("sub", ""),
            status=data.get("status", CONNECTED),
            scopes=tuple(data.get("scopes", ())),
            connected_at=data.get("connected_at"),
            created_at=data.get("created_at") or data.get("connected_at"),
            refresh_token_enc=data.get("refresh_token_enc", ""),
            conflict_calendar_ids=tuple(data.get("conflict_calendar_ids", ())),
        )


def google_account_id(account_id: str, sub: str) -> str:
    return f"{account_id}_{sub}"


def calendar_key(calendar_id: str) -> str:
    return hashlib.sha1(calendar_id.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ref(gid: str):
    return db().collection(GOOGLE_ACCOUNTS).document(gid)


def _calendars_ref(gid: str):
    return _ref(gid).collection(CALENDARS)


def _field_filter(name, op: str, value):
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(name, op, value)


# --- reading ---------------------------------------------------------------------------------


def get(gid: str) -> GoogleAccount:
    snap = read(GOOGLE_ACCOUNTS, gid)
    if not snap.exists:
        raise errors.NotFound("Google account not found", code="google_account_not_found")
    return GoogleAccount.from_doc(snap.id, snap.to_dict())


def get_for_account(account_id: str, gid: str) -> GoogleAccount:
    """The Google account if it belongs to `account_id`; another account's id is "not found"."""
    ga = get(gid) if gid else None
    if ga is None or ga.account_id != account_id:
        raise errors.NotFound("Google account not found", code="google_account_not_found")
    return ga


def calendars(gid: str) -> list[dict]:
    """Stored calendars of a Google account: primary first, then by name."""
    found = [s.to_dict() for s in _calendars_ref(gid).get()]
    return sorted(found, key=lambda c: (not c.get("primary"), c.get("summary", "").lower()))


def calendar(gid: str, calendar_id: str) -> dict:
    snap = _calendars_ref(gid).document(calendar_key(calendar_id)).get()
    if not snap.exists:
        raise errors.NotFound(
            "calendar not found in this Google account; refresh the calendar list",
            code="calendar_not_found",
        )
    return snap.to_dict()


@dataclass(frozen=True)
class Connections:
    """An account's Google accounts (oldest first) and the documents of its default calendar,
    as read together by `read_connections` or in a larger batch (shared/services/organizer.py).
    """

    account: dict
    accounts: tuple[GoogleAccount, ...]
    default_account: GoogleAccount | None
    default_calendar_doc: dict | None

    def conflict_calendars(self) -> dict[str, list[str]]:
        """{google_account_id: [calendar_id]} to check for conflicts, connected accounts only."""
        return {ga.id: list(ga.conflict_calendar_ids) for ga in self.accounts
                if ga.connected and ga.conflict_calendar_ids}

    def default_calendar(self) -> tuple[GoogleAccount, dict]:
        """(Google account, calendar) where new events go, or Conflict saying what to do."""
        if not self.account.get("default_calendar"):
            raise errors.Conflict(
                "no default calendar is set; the account owner must choose one on the "
                "Integrations page",
                code="no_default_calendar",
            )
        ga, cal = self.default_account, self.default_calendar_doc
        if ga is None or cal is None:
            raise errors.Conflict(
                "the default calendar is no longer available; the account owner must choose a "
                "new one on the Integrations page",
                code="no_default_calendar",
            )
        if not ga.connected:
            raise errors.Conflict(
                f"the Google account {ga.email} holding the default calendar must be "
                "reconnected by the account owner on the Integrations page",
                code="google_reconnect_needed",
            )
        return ga, cal


def connection_refs(account: dict) -> list:
    """The documents `connections` needs: each Google account listed on the account document
    (`google_account_ids`, kept in the transactions that add and remove them, so that no query
    is needed) and the default calendar."""
    gids = list(account.get("google_account_ids", ()))
    refs = [_ref(gid) for gid in gids]
    chosen = account.get("default_calendar")
    if chosen:
        if chosen["google_account_id"] not in gids:
            refs.append(_ref(chosen["google_account_id"]))
        refs.append(_calendars_ref(chosen["google_account_id"]).document(
            calendar_key(chosen["calendar_id"])))
    return refs


def connections(account: dict, found: dict) -> Connections:
    """Connections of `account` from the snapshots of `connection_refs(account)` (`found`,
    by document path)."""
    def doc(ref):
        snap = found.get(ref.path)
        return snap.to_dict() if snap is not None and snap.exists else None

    accounts = {}
    for gid in account.get("google_account_ids", ()):
        data = doc(_ref(gid))
        if data is not None:
            accounts[gid] = GoogleAccount.from_doc(gid, data)
    chosen = account.get("default_calendar") or {}
    default_account = cal = None
    if chosen:
        gid = chosen["google_account_id"]
        default_account = accounts.get(gid)
        if default_account is None and (data := doc(_ref(gid))) is not None:
            default_account = GoogleAccount.from_doc(gid, data)
        cal = doc(_calendars_ref(gid).document(calendar_key(chosen["calendar_id"])))
    ordered = sorted(accounts.values(), key=lambda ga: (ga.created_at or _now(), ga.email))
    return Connections(account, tuple(ordered), default_account, cal)


def read_connections(account_id: str, account: dict | None = None) -> Connections:
    """An account's connections in one round trip (two without the account document)."""
    account = account if account is not None else members.get_account(account_id)
    refs = connection_refs(account)
    found = {snap.reference.path: snap for snap in db().get_all(refs)} if refs else {}
    return connections(account, found)


# --- talking to Google -----------------------------------------------------------------------


def calendar_client(ga: GoogleAccount | str, *, mark_revoked: bool = True) -> GoogleCalendar:
    """A Calendar client for a connected account; a revoked grant found by any of its calls
    marks the account "reconnect needed" (callers need not do anything about it). Disconnecting
    passes mark_revoked=False: an account being removed needs no reconnect email."""
    if isinstance(ga, str):
        ga = get(ga)
    if not ga.connected:
        raise errors.CalendarAuthRevoked(
            f"the Google account {ga.email} must be reconnected by the account owner",
            google_account_id=ga.id,
        )
    return GoogleCalendar(
        google_account_id=ga.id,
        refresh_token=decrypted_refresh_token(ga),
        client_secret=secrets.get(secrets.OAUTH_CLIENT_SECRET),
        on_revoked=mark_reconnect_needed if mark_revoked else None,
    )


def decrypted_refresh_token(ga: GoogleAccount) -> str:
    return crypto.decrypt(ga.refresh_token_enc, context=ga.id)


def mark_reconnect_needed(gid: str) -> bool:
    """Mark the account "reconnect needed"; True when this call claimed the owner's email."""
    claimed = _claim_reconnect(_ref(gid))
    forget_token(gid)
    if not claimed:
        return False
    log(logger, logging.WARNING, "Google account needs reconnecting", google_account_id=gid)
    try:
        from shared.services import notifications

        notifications.send_reconnect_needed(gid)
    except Exception:  # noqa: BLE001 - the caller must still see CalendarAuthRevoked
        # Re-arm the claim so the next failure tries the email again instead of never.
        logger.exception("reconnect email failed", extra={"fields": {"google_account_id": gid}})
        _ref(gid).update({"reconnect_notified": False})
    return True


def _claim_reconnect(ref) -> bool:
    """Set "reconnect needed" once. Concurrent failures all land here at the same moment, so
    this is an optimistic write (precondition: unchanged since read) instead of a transaction,
    whose locks time out under that contention; whoever loses re-reads and finds it claimed."""
    for _ in range(10):
        snap = ref.get()
        if not snap.exists:
            return False
        data = snap.to_dict()
        if data.get("status") == RECONNECT_NEEDED and data.get("reconnect_notified"):
            return False
        try:
            update_unchanged(ref, {
                "status": RECONNECT_NEEDED,
                "reconnect_notified": True,
                "reconnect_needed_at": data.get("reconnect_needed_at") or _now(),
            }, snap.update_time)
            return True
        except Changed:
            continue
    return False


# --- writing ---------------------------------------------------------------------------------


def _calendar_doc(entry: dict, previous: dict | None) -> dict:
    role = entry.get("accessRole", "")
    primary = bool(entry.get("primary"))
    return {
        "calendar_id": entry["id"],
        "summary": entry.get("summaryOverride") or entry.get("summary") or entry["id"],
        "primary": primary,
        "access_role": role,
        "background_color": entry.get("backgroundColor", ""),
        "time_zone": entry.get("timeZone", ""),
        "default_reminders": [
            {"method": r.get("method"), "minutes": r.get("minutes")}
            for r in entry.get("defaultReminders", [])
        ],
        # The owner's choice survives refreshes; new calendars start on only if primary.
        "conflict_check": previous["conflict_check"] if previous else primary,
        "writable": role in WRITABLE_ROLES,
    }


def _replace_calendars(transaction, gid: str, entries: list[dict], existing: dict[str, dict]):
    """Write the calendar list `entries` over `existing` ({key: doc}); returns the new docs."""
    fresh = {}
    for entry in entries[:MAX_CALENDARS]:
        if entry.get("deleted") or not entry.get("id"):
            continue
        key = calendar_key(entry["id"])
        fresh[key] = _calendar_doc(entry, existing.get(key))
        transaction.set(_calendars_ref(gid).document(key), fresh[key])
    for key in existing.keys() - fresh.keys():
        transaction.delete(_calendars_ref(gid).document(key))
    return fresh


def _conflict_ids(calendar_docs) -> list[str]:
    return sorted(c["calendar_id"] for c in calendar_docs if c.get("conflict_check"))


def _existing_calendars(transaction, gid: str) -> dict[str, dict]:
    # A transaction reads queries, not collections; a Firestore transaction also writes at
    # most 500 documents, far more calendars than one Google account lists in practice.
    query = _calendars_ref(gid).limit(MAX_CALENDARS)
    return {s.id: s.to_dict() for s in transaction.get(query)}


def _default_still_valid(default: dict | None, gid: str, fresh: dict[str, dict]) -> bool:
    if not default or default.get("google_account_id") != gid:
        return True
    kept = fresh.get(calendar_key(default.get("calendar_id", "")))
    return bool(kept and kept["writable"])


@dataclass(frozen=True)
class SaveResult:
    google_account_id: str
    created: bool
    default_set: bool
    default_cleared: bool


def save_connection(
    *, account_id: str, sub: str, email: str, refresh_token: str, scopes: list[str],
    calendar_entries: list[dict],
) -> SaveResult:
    """Store a (re)connected Google account and its calendar list in one transaction.

    The first Google account's primary calendar becomes the default when none is set;
    connecting Google turns Meet on for the account.
    """
    gid = google_account_id(account_id, sub)
    account_ref = db().collection(ACCOUNTS).document(account_id)
    encrypted = crypto.encrypt(refresh_token, context=gid)

    from google.cloud import firestore

    @transactional
    def write(transaction) -> SaveResult:
        account = account_ref.get(transaction=transaction)
        if not account.exists:
            raise errors.NotFound("account not found")
        previous = _ref(gid).get(transaction=transaction)
        others = [g for g in account.to_dict().get("google_account_ids", ()) if g != gid]
        existing = _existing_calendars(transaction, gid)
        now = _now()
        transaction.set(_ref(gid), {
            "account_id": account_id,
            "email": email,
            "sub": sub,
            "refresh_token_enc": encrypted,
            "scopes": sorted(scopes),
            "status": CONNECTED,
            "reconnect_notified": False,
            "reconnect_needed_at": None,
            # connected_at names this connection (the reconnect email is keyed by it);
            # created_at keeps the account's place in the list across reconnects.
            "connected_at": now,
            "created_at": (previous.get("created_at") if previous.exists else None) or now,
            "updated_at": now,
        })
        fresh = _replace_calendars(transaction, gid, calendar_entries, existing)
        transaction.update(_ref(gid), {"conflict_calendar_ids": _conflict_ids(fresh.values())})
        default = account.to_dict().get("default_calendar")
        update: dict = {"meet_enabled": True, "google_account_ids": firestore.ArrayUnion([gid])}
        default_set = default_cleared = False
        if not _default_still_valid(default, gid, fresh):
            update["default_calendar"] = default = None
            default_cleared = True
        if not default and not others:
            primary = next((c for c in fresh.values() if c["primary"] and c["writable"]), None)
            if primary:
                update["default_calendar"] = {
                    "google_account_id": gid, "calendar_id": primary["calendar_id"],
                }
                default_set, default_cleared = True, False
        transaction.update(account_ref, update)
        return SaveResult(gid, not previous.exists, default_set, default_cleared)

    result = write(db().transaction())
    forget_token(gid)
    return result


def replace_calendars(gid: str, calendar_entries: list[dict]) -> bool:
    """Store a freshly fetched calendar list; True when that cleared the default calendar."""
    ga = get(gid)
    account_ref = db().collection(ACCOUNTS).document(ga.account_id)

    @transactional
    def write(transaction) -> bool:
        account = account_ref.get(transaction=transaction)
        existing = _existing_calendars(transaction, gid)
        fresh = _replace_calendars(transaction, gid, calendar_entries, existing)
        transaction.update(_ref(gid), {"conflict_calendar_ids": _conflict_ids(fresh.values())})
        default = account.to_dict().get("default_calendar") if account.exists else None
        if _default_still_valid(default, gid, fresh):
            return False
        transaction.update(account_ref, {"default_calendar": None})
        return True

    return write(db().transaction())


def set_default_calendar(account_id: str, gid: str, calendar_id: str) -> dict:
    ga = get_for_account(account_id, gid)
    cal = calendar(gid, calendar_id)
    if not cal.get("writable"):
        raise errors.InvalidInput(
            f"calendar {cal.get('summary', calendar_id)!r} is read-only for {ga.email}; "
            "the default calendar must be one you can add events to",
            code="calendar_not_writable",
        )
    if not ga.connected:
        raise errors.Conflict(
            f"reconnect {ga.email} before choosing one of its calendars",
            code="google_reconnect_needed",
        )
    chosen = {"google_account_id": gid, "calendar_id": calendar_id}
    db().collection(ACCOUNTS).document(account_id).update({"default_calendar": chosen})
    return chosen


def set_conflict_check(account_id: str, gid: str, calendar_id: str, enabled: bool) -> dict:
    get_for_account(account_id, gid)
    cal = calendar(gid, calendar_id)

    @transactional
    def write(transaction) -> None:
        existing = _existing_calendars(transaction, gid)
        key = calendar_key(calendar_id)
        existing[key] = {**existing.get(key, cal), "conflict_check": enabled}
        transaction.update(_calendars_ref(gid).document(key), {"conflict_check": enabled})
        transaction.update(_ref(gid), {"conflict_calendar_ids": _conflict_ids(existing.values())})

    write(db().transaction())
    return {**cal, "conflict_check": enabled}


def delete(gid: str) -> bool:
    """Delete the account, its token and calendars; True when that cleared the default calendar."""
    ga = get(gid)
    account_ref = db().collection(ACCOUNTS).document(ga.account_id)

    from google.cloud import firestore

    @transactional
    def remove(transaction) -> bool:
        account = account_ref.get(transaction=transaction)
        keys = list(_existing_calendars(transaction, gid))
        for key in keys:
            transaction.delete(_calendars_ref(gid).document(key))
        transaction.delete(_ref(gid))
        if not account.exists:
            return False
        update: dict = {"google_account_ids": firestore.ArrayRemove([gid])}
        default = account.to_dict().get("default_calendar")
        if default and default.get("google_account_id") == gid:
            update["default_calendar"] = None
        transaction.update(account_ref, update)
        return "default_calendar" in update

    cleared = remove(db().transaction())
    forget_token(gid)
    _delete_sync_state(gid)
    return cleared


def _delete_sync_state(gid: str) -> None:
    """Cached busy times and sync tokens (`sync_state/{gid}_{sha1(calendar)}`) go with the account."""
    from google.cloud.firestore_v1.field_path import FieldPath

    coll = db().collection(SYNC_STATE)
    prefix = f"{gid}_"
    query = (
        coll.where(filter=_field_filter(FieldPath.document_id(), ">=", coll.document(prefix)))
        .where(filter=_field_filter(FieldPath.document_id(), "<", coll.document(prefix + "\uf8ff")))
    )
    batch = db().batch()
    for snap in query.get():
        batch.delete(snap.reference)
    batch.commit()
