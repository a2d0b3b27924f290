"""In-memory state of the sandbox: users, calendars, events, tokens, channels.

Everything lives in one ``State`` guarded by one re-entrant lock. Handlers do
their whole read-modify-write inside ``state.mutate()``; that context manager
also collects push notifications produced by the change and hands them to the
notifier only after the lock is released, so slow webhook receivers can never
stall API requests.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator

from .config import SandboxConfig

ROLE_RANK = {"none": 0, "freeBusyReader": 1, "reader": 2, "writerWithoutPrivateAccess": 3, "writer": 3, "owner": 4}
ACCESS_ROLES = ("freeBusyReader", "reader", "writer", "owner")

DEFAULT_TIME_ZONE = "Europe/Berlin"
PRIMARY_REMINDERS = [{"method": "popup", "minutes": 10}, {"method": "email", "minutes": 30}]

# Google hands out a small palette; the values below are its calendar colors 14, 9, 2, 18.
CALENDAR_COLORS = [
    ("14", "#9fe1e7", "#000000"),
    ("9", "#7bd148", "#000000"),
    ("2", "#d06b64", "#000000"),
    ("18", "#b99aff", "#000000"),
]

SEED_USERS = [
    ("alice@example.com", "Alice Example"),
    ("bob@example.com", "Bob Example"),
    ("carol@example.com", "Carol Example"),
]

# Deterministic ids so tests and other engineers can refer to the seeded calendars.
TEAM_CALENDAR_ID = "c_team.alice@group.calendar.google.com"
HOLIDAYS_CALENDAR_ID = "en.german#holiday@group.v.calendar.google.com"
BOB_WORK_CALENDAR_ID = "c_work.bob@group.calendar.google.com"


def google_sub(email: str) -> str:
    """A stable 21-digit numeric subject like Google's, derived from the email."""
    n = int(hashlib.sha256(email.lower().encode()).hexdigest(), 16) % (10**20)
    return "1" + f"{n:020d}"


def random_base32hex(length: int = 26) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class User:
    email: str
    name: str
    sub: str


@dataclass
class Calendar:
    id: str
    summary: str
    time_zone: str = DEFAULT_TIME_ZONE
    description: str | None = None
    data_owner: str | None = None
    default_reminders: list = field(default_factory=list)
    color: tuple = CALENDAR_COLORS[0]
    # email -> role. Who may see/modify the calendar and its events.
    acl: dict = field(default_factory=dict)
    # email -> change seq of that user's calendarList entry (calendarList sync tokens).
    list_seq: dict = field(default_factory=dict)
    # Bumped to invalidate every outstanding sync token of this calendar.
    sync_generation: int = 0
    events: dict = field(default_factory=dict)  # id -> StoredEvent, insertion ordered
    etag_seq: int = 0


@dataclass
class StoredEvent:
    """An event as stored; ``data`` holds the Google resource minus per-viewer flags."""

    data: dict
    start_utc: datetime
    end_utc: datetime
    change_seq: int
    etag: str
    create_seq: int


@dataclass
class RefreshToken:
    token: str
    email: str
    client_id: str
    scopes: frozenset
    created_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    email: str
    client_id: str
    scopes: frozenset
    expires_at: float
    refresh_token: str | None
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: frozenset
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    issue_refresh_token: bool
    nonce: str | None
    used: bool = False


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    email: str
    created_at: float
    message_number: int = 0
    stopped: bool = False

    def live(self, now: float) -> bool:
        return not self.stopped and self.expiration_ms > now * 1000


@dataclass
class Fault:
    id: str
    status: int | None
    method: str | None = None
    path_regex: str | None = None
    reason: str | None = None
    message: str | None = None
    count: int = 1
    latency_ms: int = 0
    email: str | None = None
    hits: int = 0


@dataclass
class Notification:
    """One webhook POST; headers are frozen at creation like Google's messages."""

    channel_id: str
    address: str
    headers: dict
    calendar_id: str
    state: str


class State:
    def __init__(self, config: SandboxConfig, notify: Callable[[list], None] | None = None):
        self.config = config
        self.lock = threading.RLock()
        self._notify = notify or (lambda batch: None)
        self._pending = threading.local()
        self._request_seq = itertools.count(1)
        self.request_log: collections.deque = collections.deque(maxlen=config.request_log_size)
        self.last_request_seq = 0
        self.clock_offset = 0.0
        self.reset()

    # ---- lifecycle -------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.seq = 0
            self.users: dict[str, User] = {}
            self.calendars: dict[str, Calendar] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.auth_codes: dict[str, AuthCode] = {}
            self.pending_auth: dict[str, dict] = {}
            self.grants: dict[tuple, set] = {}
            self.channels: dict[str, Channel] = {}
            self.faults: list[Fault] = []
            self.clock_offset = 0.0
            self._seed()

    def _seed(self) -> None:
        for email, name in SEED_USERS:
            self.add_user(email, name)
        self.add_calendar(TEAM_CALENDAR_ID, "Team", owner="alice@example.com", color=CALENDAR_COLORS[1])
        holidays = self.add_calendar(
            HOLIDAYS_CALENDAR_ID, "Holidays in Germany", owner=None, color=CALENDAR_COLORS[2],
            description="Holidays and Observances in Germany",
        )
        holidays.acl["alice@example.com"] = "reader"
        holidays.list_seq["alice@example.com"] = self.next_seq()
        self.add_calendar(BOB_WORK_CALENDAR_ID, "Bob Work", owner="bob@example.com", color=CALENDAR_COLORS[3])
        # Bob sees Alice's availability only, which is the typical "colleague" share.
        self.grant_access(self.calendars["alice@example.com"], "bob@example.com", "freeBusyReader")

    # ---- helpers ---------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    @contextlib.contextmanager
    def mutate(self) -> Iterator["State"]:
        """Hold the lock for a change; deliver produced notifications after release."""
        outer = getattr(self._pending, "batch", None)
        if outer is None:
            self._pending.batch = []
        try:
            with self.lock:
                yield self
        finally:
            if outer is None:
                batch, self._pending.batch = self._pending.batch, None
                if batch:
                    self._notify(batch)

    def queue_notification(self, notification: Notification) -> None:
        batch = getattr(self._pending, "batch", None)
        if batch is None:
            # Not inside mutate(): still never deliver synchronously under the lock.
            self._notify([notification])
        else:
            batch.append(notification)

    # ---- users & calendars -----------------------------------------------------
    def add_user(self, email: str, name: str) -> User:
        email = email.strip().lower()
        with self.lock:
            user = User(email=email, name=name, sub=google_sub(email))
            self.users[email] = user
            cal = self.add_calendar(email, email, owner=email, color=CALENDAR_COLORS[0])
            cal.default_reminders = [dict(r) for r in PRIMARY_REMINDERS]
            return user

    def add_calendar(
        self,
        cal_id: str,
        summary: str,
        owner: str | None,
        *,
        time_zone: str = DEFAULT_TIME_ZONE,
        color: tuple | None = None,
        description: str | None = None,
        default_reminders: list | None = None,
    ) -> Calendar:
        with self.lock:
            cal = Calendar(
                id=cal_id,
                summary=summary,
                time_zone=time_zone,
                description=description,
                data_owner=owner,
                default_reminders=list(default_reminders or []),
                color=color or CALENDAR_COLORS[len(self.calendars) % len(CALENDAR_COLORS)],
            )
            self.calendars[cal_id] = cal
            if owner:
                self.grant_access(cal, owner, "owner")
            return cal

    def grant_access(self, cal: Calendar, email: str, role: str) -> None:
        with self.lock:
            cal.acl[email] = role
            cal.list_seq[email] = self.next_seq()

    def role(self, cal: Calendar, email: str) -> str:
        return cal.acl.get(email, "none")

    # ---- tokens ----------------------------------------------------------------
    def new_token(self, prefix: str, nbytes: int = 48) -> str:
        return prefix + secrets.token_urlsafe(nbytes)

    def issue_access_token(self, email: str, client_id: str, scopes: frozenset, refresh_token: str | None) -> AccessToken:
        with self.lock:
            tok = AccessToken(
                token=self.new_token("ya29.sandbox-"),
                email=email,
                client_id=client_id,
                scopes=frozenset(scopes),
                expires_at=self.now() + int(self.config.access_token_ttl_seconds),
                refresh_token=refresh_token,
            )
            self.access_tokens[tok.token] = tok
            return tok

    def lookup_access_token(self, token: str) -> AccessToken | None:
        """The live access token, or None when unknown, expired or revoked."""
        with self.lock:
            tok = self.access_tokens.get(token)
            if tok is None or tok.revoked or tok.expires_at <= self.now():
                return None
            if tok.email not in self.users:
                return None
            return tok

    def revoke_grant(self, email: str, client_id: str | None = None) -> int:
        """Revoke every token of a user (optionally only for one client), like Google
        does when any token of an app's grant is revoked. Returns tokens revoked."""
        n = 0
        with self.lock:
            for store in (self.refresh_tokens, self.access_tokens):
                for tok in store.values():
                    if tok.email == email and not tok.revoked and (client_id is None or tok.client_id == client_id):
                        tok.revoked = True
                        n += 1
            for key in list(self.grants):
                if key[0] == email and (client_id is None or key[1] == client_id):
                    del self.grants[key]
            for code in self.auth_codes.values():
                if code.email == email and (client_id is None or code.client_id == client_id):
                    code.used = True
        return n

    # ---- request log -----------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> int:
        with self.lock:
            seq = next(self._request_seq)
            entry["seq"] = seq
            self.last_request_seq = seq
            self.request_log.append(entry)
            return seq

    # ---- faults ----------------------------------------------------------------
    def take_fault(self, method: str, path: str, email_of: Callable[[], str | None]) -> Fault | None:
        """Consume one matching fault (decrementing its count), or None."""
        with self.lock:
            for fault in list(self.faults):
                if fault.method and fault.method.upper() != method.upper():
                    continue
                if fault.path_regex and not re.search(fault.path_regex, path):
                    continue
                if fault.email and (email_of() or "").lower() != fault.email.lower():
                    continue
                fault.hits += 1
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None
