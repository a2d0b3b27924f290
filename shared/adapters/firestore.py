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
