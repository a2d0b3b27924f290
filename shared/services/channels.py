"""Google push channels (events.watch) on every calendar calbridge reads: the default calendar,
each conflict calendar of an account's connected Google accounts, and any calendar still holding
upcoming bookings (made there before the owner chose another default).

A channel is `channels/{uuid4}` {google_account_id, account_id, calendar_id, resource_id,
token_hash, expiration, created_at}. Its token is random (secrets.token_urlsafe) and only its
SHA-256 is stored: Google echoes the token on every notification and we compare hashes in
constant time, so a leaked database cannot forge notifications. The document is written before
events.watch is called, so a notification can never come from a channel we do not know about
because we crashed after creating it.

Google has no renew call: before a channel expires a new one is opened, then the old one is
stopped (`renew_expiring`, hourly from Cloud Scheduler). A calendar whose channel could not be
renewed is marked failed in its sync_state, so slot lookups stop trusting its cached busy times.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import errors
from shared.adapters.firestore import db, read, transactional
from shared.adapters.google_calendar import GoogleApiError
from shared.config import settings
from shared.logs import get_logger, log
from shared.services import google_accounts, sync

logger = get_logger("channels")

CHANNELS = "channels"
MESSAGES = "channel_messages"
NOTIFICATION_PATH = "/google/notifications"
FREE_BUSY_ONLY = "freeBusyReader"
TTL = timedelta(days=7)
# Renewal runs hourly and replaces channels that expire within this window, so a channel gets
# many attempts before it lapses.
RENEW_WITHIN = timedelta(hours=24)
# A concurrent renewal run (Scheduler retries) leaves a channel alone for this long.
RENEW_CLAIM = timedelta(minutes=5)
# Dedupe markers of notifications are kept this long (Firestore TTL policy on expires_at).
MESSAGE_MEMORY = timedelta(days=1)
# Bookings that started this recently still count as upcoming: a meeting running late can
# still be moved or cancelled in Google.
UPCOMING_SLACK = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _where(query, name: str, op: str, value):
    from google.cloud.firestore_v1.base_query import FieldFilter

    return query.where(filter=FieldFilter(name, op, value))


@dataclass(frozen=True)
class Channel:
    id: str
    google_account_id: str
    account_id: str
    calendar_id: str
    resource_id: str | None
    token_hash: str
    expiration: datetime | None
    created_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.google_account_id, self.calendar_id

    @classmethod
    def from_snap(cls, snap) -> "Channel":
        data = snap.to_dict()
        return cls(
            id=snap.id,
            google_account_id=data["google_account_id"],
            account_id=data.get("account_id", ""),
            calendar_id=data["calendar_id"],
            resource_id=data.get("resource_id"),
            token_hash=data.get("token_hash", ""),
            expiration=data.get("expiration"),
            created_at=data.get("created_at"),
        )


def _ref(channel_id: str):
    return db().collection(CHANNELS).document(channel_id)


def get(channel_id: str) -> Channel | None:
    snap = read(CHANNELS, channel_id)
    return Channel.from_snap(snap) if snap.exists else None


def of_account(account_id: str) -> list[Channel]:
    return [Channel.from_snap(s)
            for s in _where(db().collection(CHANNELS), "account_id", "==", account_id).get()]


def of_google_account(google_account_id: str) -> list[Channel]:
    query = _where(db().collection(CHANNELS), "google_account_id", "==", google_account_id)
    return [Channel.from_snap(s) for s in query.get()]


# --- opening and stopping --------------------------------------------------------------------


def open_channel(account_id: str, google_account_id: str, calendar_id: str, *,
                 client=None, ttl: timedelta = TTL) -> Channel:
    """Watch a calendar's events; the calendar's sync_state then points at the new channel."""
    client = client or google_accounts.calendar_client(google_account_id)
    channel_id = str(uuid.uuid4())
    token = secrets.token_urlsafe(32)
    ref = _ref(channel_id)
    ref.set({
        "google_account_id": google_account_id,
        "account_id": account_id,
        "calendar_id": calendar_id,
        "resource_id": None,
        "token_hash": _hash(token),
        "expiration": None,
        "created_at": _now(),
    })
    try:
        answer = client.watch(
            calendar_id, channel_id=channel_id, token=token,
            address=settings().webhook_url + NOTIFICATION_PATH,
            ttl_seconds=int(ttl.total_seconds()),
        )
    except BaseException:
        ref.delete()
        raise
    expiration = datetime.fromtimestamp(int(answer["expiration"]) / 1000, timezone.utc)
    ref.update({"resource_id": answer["resourceId"], "expiration": expiration})
    sync.state_ref(google_account_id, calendar_id).set({
        "google_account_id": google_account_id,
        "calendar_id": calendar_id,
        "channel_id": channel_id,
        "channel_expiration": expiration,
        "channel_failed": False,
    }, merge=True)
    log(logger, logging.INFO, "channel opened", channel_id=channel_id,
        google_account_id=google_account_id, calendar_id=calendar_id)
    return Channel(channel_id, google_account_id, account_id, calendar_id,
                   answer["resourceId"], _hash(token), expiration, _now())


def stop_channel(channel: Channel, *, client=None, forget_calendar: bool = False) -> None:
    """Stop a channel at Google and forget it; `forget_calendar` also drops the calendar's
    sync state. Best effort: a channel Google cannot stop now expires by itself, and its
    notifications meanwhile are answered as unknown (and stopped then, see `_unknown`)."""
    if channel.resource_id:
        try:
            client = client or google_accounts.calendar_client(
                channel.google_account_id, mark_revoked=False)
            client.stop_channel(channel.id, channel.resource_id)
        except (errors.CalendarAuthRevoked, errors.NotFound, errors.UpstreamUnavailable) as exc:
            log(logger, logging.WARNING, "channel left to expire", channel_id=channel.id,
                reason=exc.code, status=getattr(exc, "http_status", None))
    _ref(channel.id).delete()
    if forget_calendar:
        sync.state_ref(channel.google_account_id, channel.calendar_id).delete()
    log(logger, logging.INFO, "channel stopped", channel_id=channel.id,
        google_account_id=channel.google_account_id, calendar_id=channel.calendar_id)


def stop_for_google_account(google_account_id: str) -> int:
    """Stop every channel of a Google account being disconnected (call before revoking its
    grant: stopping needs it). Returns how many there were."""
    found = of_google_account(google_account_id)
    for channel in found:
        stop_channel(channel, forget_calendar=True)
    return len(found)


def replace_channel(old: Channel, *, client=None) -> Channel:
    """A new channel first, then the old one stopped: no change falls between the two."""
    client = client or google_accounts.calendar_client(old.google_account_id)
    new = open_channel(old.account_id, old.google_account_id, old.calendar_id, client=client)
    stop_channel(old, client=client)
    return new


# --- which calendars are watched -------------------------------------------------------------


def watched_calendars(account_id: str) -> set[tuple[str, str]]:
    """(google_account_id, calendar_id) of the default and every conflict calendar whose events
    we may read, and of every calendar holding upcoming bookings; one shared as free/busy only
    cannot be watched and is always asked freeBusy."""
    return _watched(account_id, google_accounts.read_connections(account_id))


def _watched(account_id: str, connections: google_accounts.Connections) -> set[tuple[str, str]]:
    from shared.services import bookings

    connected = {ga.id for ga in connections.accounts if ga.connected}
    roles: dict[str, dict[str, str | None]] = {}

    def role(gid: str, calendar_id: str) -> str | None:
        if gid not in roles:
            roles[gid] = {c["calendar_id"]: c.get("access_role")
                          for c in google_accounts.calendars(gid)}
        return roles[gid].get(calendar_id, FREE_BUSY_ONLY)  # no longer listed: not readable

    wanted = {(gid, cid) for gid, cids in connections.conflict_calendars().items() for cid in cids
              if role(gid, cid) != FREE_BUSY_ONLY}
    try:
        ga, cal = connections.default_calendar()
        wanted.add((ga.id, cal["calendar_id"]))
    except errors.Conflict:
        pass
    # A booking's event stays in the calendar it was made in when the owner picks another
    # default; its changes in Google must still reach calbridge while it is upcoming.
    for booking in bookings.list_for_account(account_id, start=_now() - UPCOMING_SLACK,
                                             status=bookings.CONFIRMED):
        gid, cid = booking["google"]["google_account_id"], booking["google"]["calendar_id"]
        if gid in connected and role(gid, cid) != FREE_BUSY_ONLY:
            wanted.add((gid, cid))
    return wanted


def ensure_channels(account_id: str) -> dict:
    """Make the account's channels match the calendars it uses: open missing ones, replace ones
    about to expire, stop those of calendars no longer used, and sync every watched calendar.
    Call after the integration settings changed. Google failures are logged and the calendar
    marked failed (its lookups use freeBusy); the hourly renewal tries again."""
    connections = google_accounts.read_connections(account_id)
    wanted = _watched(account_id, connections)
    connected = {ga.id for ga in connections.accounts if ga.connected}
    existing = of_account(account_id)
    soon = _now() + RENEW_WITHIN
    handled: set[tuple[str, str]] = set()
    report = {"opened": 0, "stopped": 0, "failed": 0}
    # Freshest first, so an older duplicate of a calendar's channel is the one stopped.
    for channel in sorted(existing, key=_expiration, reverse=True):
        if channel.key not in wanted:
            # Channels of an account awaiting reconnection are kept: stopping needs its grant.
            if channel.google_account_id in connected or not _exists(channel.google_account_id):
                stop_channel(channel, forget_calendar=True)
                report["stopped"] += 1
        elif channel.key in handled:
            stop_channel(channel)
            report["stopped"] += 1
        elif channel.expiration and channel.expiration > soon:
            handled.add(channel.key)
        else:
            handled.add(channel.key)
            _attempt(report, "opened", channel.key, lambda c=channel: replace_channel(c))
    for gid, cid in sorted(wanted - handled):
        _attempt(report, "opened", (gid, cid), lambda g=gid, c=cid: open_channel(account_id, g, c))
    for gid, cid in sorted(wanted):
        try:
            sync.enqueue(gid, cid)
        except Exception:  # noqa: BLE001 - the hourly safety sync catches up
            logger.exception("sync not enqueued", extra={"fields": {"calendar_id": cid}})
    return report


def _expiration(channel: Channel) -> datetime:
    return channel.expiration or datetime.min.replace(tzinfo=timezone.utc)


def _exists(google_account_id: str) -> bool:
    try:
        google_accounts.get(google_account_id)
        return True
    except errors.NotFound:
        return False


def _attempt(report: dict, what: str, key: tuple[str, str], action) -> None:
    try:
        action()
    except (errors.UpstreamUnavailable, errors.CalendarAuthRevoked) as exc:
        report["failed"] += 1
        mark_failed(*key, reason=exc.code)
    else:
        report[what] += 1


def mark_failed(google_account_id: str, calendar_id: str, *, reason: str) -> None:
    """The calendar has no trustworthy channel: slot lookups must ask freeBusy."""
    sync.state_ref(google_account_id, calendar_id).set({
        "google_account_id": google_account_id, "calendar_id": calendar_id,
        "channel_failed": True, "channel_failure": reason, "channel_failed_at": _now(),
    }, merge=True)
    log(logger, logging.WARNING, "calendar has no working channel",
        google_account_id=google_account_id, calendar_id=calendar_id, reason=reason)


# --- renewal ---------------------------------------------------------------------------------


def renew_expiring(*, within: timedelta = RENEW_WITHIN) -> dict:
    """Replace channels expiring within `within` (Scheduler, hourly), then enqueue a sync of
    every watched calendar as a safety net against notifications Google dropped."""
    now = _now()
    report = {"renewed": 0, "failed": 0, "retried": 0, "reconciled": 0, "synced": 0}
    # Accounts with a calendar left without a working channel (its watch or a renewal failed)
    # are reconciled again; that also replaces their expiring channels.
    for account_id in _accounts_with_failed_channels():
        ensure_channels(account_id)
        report["retried"] += 1
    coll = db().collection(CHANNELS)
    due = [Channel.from_snap(s) for s in _where(coll, "expiration", "<", now + within).get()]
    # Half-open channels (a crash between writing and watching) are replaced too.
    half_open = (Channel.from_snap(s) for s in _where(coll, "expiration", "==", None).get())
    due += [c for c in half_open if c.created_at and c.created_at < now - RENEW_CLAIM]
    # A channel is renewed only while its calendar is still used (e.g. the last upcoming
    # booking in a former default calendar is over); otherwise its account is reconciled,
    # which also replaces the account's channels about to expire.
    wanted: dict[str, set[tuple[str, str]]] = {}
    reconciled: set[str] = set()
    for channel in due:
        account_id = channel.account_id
        if account_id not in wanted:
            wanted[account_id] = watched_calendars(account_id)
        if account_id in reconciled:
            continue
        if channel.key not in wanted[account_id]:
            ensure_channels(account_id)
            reconciled.add(account_id)
        elif _claim(channel.id, now):
            report["renewed" if _renew(channel) else "failed"] += 1
    report["reconciled"] = len(reconciled)
    calendars = {Channel.from_snap(s).key for s in coll.get()}
    hour = now.strftime("%Y%m%d%H")
    for gid, cid in sorted(calendars):
        try:
            sync.enqueue(gid, cid, key=f"safety:{gid}:{cid}:{hour}")
            report["synced"] += 1
        except Exception:  # noqa: BLE001 - one calendar must not stop the others
            logger.exception("safety sync not enqueued", extra={"fields": {"calendar_id": cid}})
    log(logger, logging.INFO, "channel renewal done", **report)
    return report


def _accounts_with_failed_channels() -> list[str]:
    failed = _where(db().collection(sync.SYNC_STATE), "channel_failed", "==", True).get()
    accounts = set()
    for gid in {(snap.to_dict() or {}).get("google_account_id") for snap in failed} - {None}:
        try:
            ga = google_accounts.get(gid)
        except errors.NotFound:
            continue
        if ga.connected:
            accounts.add(ga.account_id)
    return sorted(accounts)


def _renew(channel: Channel) -> bool:
    # Transient Google errors were already retried with backoff by the adapter; what still
    # fails is marked, and the channel, still due, is tried again by the next hourly run.
    try:
        replace_channel(channel)
    except errors.NotFound:
        _ref(channel.id).delete()  # the Google account was disconnected meanwhile
    except (errors.CalendarAuthRevoked, errors.UpstreamUnavailable) as exc:
        mark_failed(*channel.key, reason=exc.code)
        return False
    return True


def _claim(channel_id: str, now: datetime) -> bool:
    ref = _ref(channel_id)

    def attempt(transaction) -> bool:
        snap = ref.get(transaction=transaction)
        if not snap.exists:
            return False
        claimed = snap.to_dict().get("renewal_claimed_at")
        if claimed and claimed > now - RENEW_CLAIM:
            return False
        transaction.update(ref, {"renewal_claimed_at": now})
        return True

    return transactional(attempt)(db().transaction())


# --- notifications ---------------------------------------------------------------------------


class Notification(BaseModel):
    """The X-Goog-* headers of one push message (Google sends no body), as a schema."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    channel_id: str = Field(alias="x-goog-channel-id", min_length=1, max_length=64)
    token: str = Field("", alias="x-goog-channel-token", max_length=256)
    resource_state: Literal["sync", "exists", "not_exists"] = Field(
        alias="x-goog-resource-state")
    message_number: int = Field(alias="x-goog-message-number", ge=1)
    resource_id: str | None = Field(None, alias="x-goog-resource-id", max_length=256)


class StopChannelTask(BaseModel):
    google_account_id: str = Field(min_length=1, max_length=300)
    channel_id: str = Field(min_length=1, max_length=64)
    resource_id: str = Field(min_length=1, max_length=256)


class RenewTask(BaseModel):
    within_hours: float = Field(RENEW_WITHIN.total_seconds() / 3600, gt=0, le=24 * 30)


def accept_notification(note: Notification) -> str:
    """Check a push message and hand its work to a sync task. Returns what happened: queued,
    duplicate, ignored (the `sync` handshake) or unknown (logged; stopped when attributable).
    A wrong token raises Unauthenticated."""
    channel = get(note.channel_id)
    if channel is None:
        _unknown(note)
        return "unknown"
    if not hmac.compare_digest(_hash(note.token), channel.token_hash) or (
            channel.resource_id and note.resource_id and note.resource_id != channel.resource_id):
        log(logger, logging.WARNING, "notification with a wrong token or resource",
            channel_id=note.channel_id)
        raise errors.Unauthenticated("notification not authenticated", code="bad_channel_token")
    if note.resource_state == "sync":
        return "ignored"
    if not _first_time(channel, note):
        return "duplicate"
    try:
        sync.enqueue(channel.google_account_id, channel.calendar_id,
                     key=f"push:{channel.id}:{note.message_number}", push=True)
    except Exception as exc:
        # Forget the message so Google's retry of it is not taken for a duplicate.
        _message_ref(channel.id, note.message_number).delete()
        raise errors.UpstreamUnavailable("could not queue the sync; retry later") from exc
    return "queued"


def _message_ref(channel_id: str, message_number: int):
    return db().collection(MESSAGES).document(f"{channel_id}_{message_number}")


def _first_time(channel: Channel, note: Notification) -> bool:
    """Record the message and count it against the calendar's cache in one batch; False when
    the same (channel, message number) was seen before."""
    from google.api_core.exceptions import Aborted, AlreadyExists

    now = _now()
    batch = db().batch()
    batch.create(_message_ref(channel.id, note.message_number),
                 {"received_at": now, "expires_at": now + MESSAGE_MEMORY})
    sync.mark_notified(channel.google_account_id, channel.calendar_id, batch)
    if channel.resource_id is None and note.resource_id:
        batch.update(_ref(channel.id), {"resource_id": note.resource_id})
    try:
        batch.commit()
    except AlreadyExists:
        return False
    except Aborted as exc:
        # The calendar's state was locked by a sync for too long; Google retries on 503.
        raise errors.UpstreamUnavailable("busy; retry the notification") from exc
    return True


def _unknown(note: Notification) -> None:
    """A channel we do not know (stopped, or not ours). If another of our channels watches the
    same resource, its Google account can stop it; otherwise it is only logged."""
    log(logger, logging.INFO, "notification for an unknown channel", channel_id=note.channel_id,
        resource_state=note.resource_state)
    if not note.resource_id:
        return
    sibling = _where(db().collection(CHANNELS), "resource_id", "==", note.resource_id).limit(1)
    found = sibling.get()
    if not found:
        return
    gid = found[0].get("google_account_id")
    cfg = settings()
    from shared.adapters import tasks

    tasks.enqueue(cfg.sync_queue, f"{cfg.webhook_url}/tasks/stop-channel",
                  {"google_account_id": gid, "channel_id": note.channel_id,
                   "resource_id": note.resource_id},
                  key=f"stop:{note.channel_id}")


def stop_unknown(google_account_id: str, channel_id: str, resource_id: str) -> None:
    """Stop a channel we have no record of (task from `_unknown`); never one we still use."""
    if get(channel_id) is not None:
        return
    try:
        google_accounts.calendar_client(google_account_id, mark_revoked=False).stop_channel(
            channel_id, resource_id)
    except (errors.CalendarAuthRevoked, errors.NotFound):
        return
    except GoogleApiError as exc:
        if exc.http_status not in (403, 404):
            raise
