"""The process's one Firestore client, created on first use so cold starts stay fast.

The client honours FIRESTORE_EMULATOR_HOST (local stack and tests) with anonymous credentials.
"""

from __future__ import annotations

import functools

from shared.config import settings


@functools.cache
def db():
    from google.cloud import firestore

    cfg = settings()
    return firestore.Client(project=cfg.project, database=cfg.firestore_database)


def transactional(fn):
    """google.cloud.firestore.transactional, imported lazily for the same cold-start reason."""
    from google.cloud import firestore

    return firestore.transactional(fn)


class AlreadyExists(Exception):
    """A create() in a committed batch met an existing document; nothing was written."""


def commit_creates(batch) -> list:
    """Commit a batch holding create() writes, which either all land or none does; returns the
    WriteResults (with each document's update_time) in the order of the writes."""
    from google.api_core import exceptions

    try:
        return batch.commit()
    except (exceptions.AlreadyExists, exceptions.Aborted) as exc:
        # Aborted: a concurrent transaction held one of the documents; to the caller it is the
        # same answer ("someone else got there"), to be re-checked like an existing document.
        raise AlreadyExists(str(exc)) from None


class Changed(Exception):
    """The document changed since the update time the caller read."""


def update_unchanged(ref, data: dict, update_time) -> None:
    """Update `ref` only if it was not written since `update_time`: one round trip where a
    read-then-write transaction takes three."""
    from google.api_core import exceptions

    try:
        ref.update(data, option=ref._client.write_option(last_update_time=update_time))
    except exceptions.FailedPrecondition as exc:
        raise Changed(str(exc)) from None
