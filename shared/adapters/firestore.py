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


def is_document_id(doc_id) -> bool:
    # Firestore's rules for a document id; it answers InvalidArgument to any other.
    return (isinstance(doc_id, str) and bool(doc_id) and "/" not in doc_id
            and doc_id not in (".", "..")
            and not (doc_id.startswith("__") and doc_id.endswith("__") and len(doc_id) >= 4)
            and len(doc_id.encode()) <= 1500)


def read(collection: str, doc_id):
    """The snapshot of collection/doc_id. An id Firestore refuses (empty, with "/", "." or
    "..", __reserved__, too long) reads as a missing document: an id from a URL or a request
    body that cannot name a document names nothing, which is a 404, not an error."""
    if is_document_id(doc_id):
        return db().collection(collection).document(doc_id).get()
    from google.cloud.firestore_v1.base_document import DocumentSnapshot

    return DocumentSnapshot(reference=None, data=None, exists=False, read_time=None,
                            create_time=None, update_time=None)


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
