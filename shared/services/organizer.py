"""The organizer as a slot lookup or a booking sees it, read in two round trips.

Both need the account, its Google accounts (conflict calendars, connection state) and the
default calendar; a booking also needs the owner (name and email on the event and in emails),
and public pages the event type behind a slug. Read one by one that was seven Firestore calls,
one of them a query, on the hottest path; here it is two batched reads: the account with the
slug document, then every document they point to. Each part is checked by the module that
owns it, with the same errors as its single reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import errors
from shared.adapters.firestore import db
from shared.services import event_types, google_accounts, members


@dataclass(frozen=True)
class Organizer:
    account_id: str
    account: dict
    connections: google_accounts.Connections
    event_type: dict | None
    owner_member: members.Member | None
    found: dict  # every snapshot read, by document path (for `also`)

    @property
    def owner(self) -> members.Member:
        if self.owner_member is None:
            raise errors.NotFound("account has no owner")
        return self.owner_member

    def default_calendar(self) -> tuple[google_accounts.GoogleAccount, dict]:
        return self.connections.default_calendar()

    def snapshot(self, ref):
        """The snapshot of `ref`: as read with the organizer when passed in `also`."""
        return self.found.get(ref.path) or ref.get()


def _get_all(refs: list) -> dict:
    return {snap.reference.path: snap for snap in db().get_all(refs)} if refs else {}


def load(account_id: str, *, slug: str | None = None, event_type_id: str | None = None,
         also: tuple = ()) -> Organizer:
    """The organizer of `account_id`, with the event type named by `slug` (a booking page,
    where an inactive event type is "not found") or `event_type_id`; `also` are further
    documents to read in the same round trip (`Organizer.snapshot`)."""
    account_ref = members.account_ref(account_id)
    page_ref = event_types.slug_ref(account_id, slug) if slug is not None else None
    if slug is not None and page_ref is None:
        event_types.id_for_slug(None)  # says "this booking page does not exist"
    first = _get_all([r for r in (account_ref, page_ref) if r is not None])
    if page_ref is not None:
        event_type_id = event_types.id_for_slug(first.get(page_ref.path))
    account = members.account_from(first.get(account_ref.path) if account_ref else None)

    refs = google_accounts.connection_refs(account) + list(also)
    owner_id = account.get("owner_member_id")
    if owner_id:
        refs.append(members.member_ref(owner_id))
    if event_type_id:
        refs.append(event_types.ref(event_type_id))
    found = _get_all(refs)

    event_type = None
    if event_type_id:
        event_type = event_types.from_snapshot(
            account_id, found.get(event_types.ref(event_type_id).path))
        if slug is not None:
            event_type = event_types.bookable(event_type)
    owner = members.member_from(found.get(members.member_ref(owner_id).path)) if owner_id else None
    return Organizer(account_id, account, google_accounts.connections(account, found),
                     event_type, owner, found)
