"""Ids Firestore refuses as document ids read as missing documents, without a request."""

from __future__ import annotations

import pytest

from shared.adapters import firestore


@pytest.mark.parametrize("doc_id", ["", ".", "..", "__x__", "____", "a/b", "é" * 751, None, 7])
def test_ids_firestore_refuses(doc_id):
    assert not firestore.is_document_id(doc_id)
    assert not firestore.read("bookings", doc_id).exists  # no client needed: nothing is sent


@pytest.mark.parametrize("doc_id", ["abc", "__x", "x__", "_._", "a.b", "é" * 750, "_"])
def test_ids_firestore_accepts(doc_id):
    assert firestore.is_document_id(doc_id)
