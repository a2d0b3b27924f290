"""Accounts and their members: one owner, any number of assistants, each with an API key.

Keys are 256-bit random strings, so a plain SHA-256 is the right hash: there is nothing to
brute-force, and lookups stay one document read (`api_keys/{sha256}`). The key itself is shown
once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import errors
from shared.adapters.firestore import db, is_document_id

OWNER = "owner"
ASSISTANT = "assistant"
ROLES = (OWNER, ASSISTANT)
KEY_PREFIX = "cbk_"

ACCOUNTS = "accounts"
MEMBERS = "members"
API_KEYS = "api_keys"


@dataclass(frozen=True)
class Member:
    id: str
    account_id: str
    role: str
    name: str
    email: str
    language: str

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER

    @classmethod
    def from_doc(cls, doc_id: str, data: dict) -> "Member":
        return cls(
            id=doc_id,
            account_id=data["account_id"],
            role=data["role"],
            name=data.get("name", ""),
            email=data.get("email", ""),
            language=data.get("language", "en"),
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def validate_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise errors.InvalidInput(
            f"unknown time zone {str(tz)[:64]!r}; use an IANA name like Europe/Berlin") from None
    return tz


def create_account(
    *, name: str, owner_name: str, owner_email: str, timezone_name: str = "Europe/Berlin",
    language: str = "en", account_id: str | None = None,
) -> tuple[dict, Member, str]:
    """Create an account and its owner; returns (account, owner, owner's API key)."""
    validate_timezone(timezone_name)
    account_id = account_id or uuid.uuid4().hex
    owner, key = add_member(account_id, role=OWNER, name=owner_name, email=owner_email,
                            language=language)
    account = {
        "id": account_id,
        "name": name,
        "timezone": timezone_name,
        "language": language,
        # Read on every booking (the organizer); a document read, where a query costs more.
        "owner_member_id": owner.id,
        "created_at": datetime.now(timezone.utc),
    }
    db().collection(ACCOUNTS).document(account_id).set(account)
    return account, owner, key


def add_member(
    account_id: str, *, role: str, name: str, email: str, language: str = "en"
) -> tuple[Member, str]:
    if role not in ROLES:
        raise errors.InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if role == OWNER:
        if _owner_query(account_id).get():
            raise errors.Conflict("the account already has an owner")
    member_id = uuid.uuid4().hex
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    data = {
        "account_id": account_id,
        "role": role,
        "name": name,
        "email": email,
        "language": language,
        "key_hash": hash_key(key),
        "created_at": datetime.now(timezone.utc),
    }
    batch = db().batch()
    batch.set(db().collection(MEMBERS).document(member_id), data)
    batch.set(
        db().collection(API_KEYS).document(hash_key(key)),
        {"member_id": member_id, "account_id": account_id},
    )
    if role == OWNER:
        batch.set(db().collection(ACCOUNTS).document(account_id),
                  {"owner_member_id": member_id}, merge=True)
    batch.commit()
    return Member.from_doc(member_id, data), key


def member_by_key(key: str) -> Member | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    ref = db().collection(API_KEYS).document(hash_key(key)).get()
    if not ref.exists:
        return None
    return get_member(ref.get("member_id"))


def member_ref(member_id: str):
    return db().collection(MEMBERS).document(member_id)


def member_from(snap) -> Member | None:
    return Member.from_doc(snap.id, snap.to_dict()) if snap is not None and snap.exists else None


def get_member(member_id: str) -> Member | None:
    return member_from(member_ref(member_id).get())


def account_ref(account_id: str):
    """The account's document; None for an id (from a URL) that cannot name one."""
    return db().collection(ACCOUNTS).document(account_id) if is_document_id(account_id) else None


def account_from(snap) -> dict:
    if snap is None or not snap.exists:
        raise errors.NotFound("account not found")
    return snap.to_dict()


def get_account(account_id: str) -> dict:
    ref = account_ref(account_id)
    return account_from(ref.get() if ref else None)


def account_owner(account_id: str, account: dict | None = None) -> Member:
    """The owner of `account_id`; pass the account document when it was just read."""
    owner_id = (account or get_account(account_id)).get("owner_member_id")
    owner = get_member(owner_id) if owner_id else None
    if owner is None:
        raise errors.NotFound("account has no owner")
    return owner


def _owner_query(account_id: str):
    from google.cloud.firestore_v1.base_query import FieldFilter

    return (
        db().collection(MEMBERS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("role", "==", OWNER))
        .limit(1)
    )
