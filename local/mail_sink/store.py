"""Accepted messages: kept in memory, optionally mirrored to one JSON file each in a directory."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .validation import decode_base64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    type: str
    disposition: str
    content_id: str | None
    data: bytes


@dataclass(frozen=True)
class StoredMessage:
    id: str
    # Arrival order; ids are random like SendGrid's X-Message-Id so they cannot order messages.
    seq: int
    received_at: str
    payload: dict[str, Any]

    @property
    def sender(self) -> str:
        return self.payload["from"]["email"]

    @property
    def subject(self) -> str:
        return self.payload.get("subject") or self.payload["personalizations"][0].get("subject", "")

    @property
    def personalizations(self) -> list[dict[str, Any]]:
        """Each personalization as its recipients get it: message-level values filled in."""
        message = self.payload
        expanded = []
        for block in message["personalizations"]:
            expanded.append({
                "to": block["to"],
                "cc": block.get("cc", []),
                "bcc": block.get("bcc", []),
                "from": block.get("from", message["from"]),
                "subject": block.get("subject") or message.get("subject", ""),
                "headers": {**message.get("headers", {}), **block.get("headers", {})},
                "custom_args": {**message.get("custom_args", {}), **block.get("custom_args", {})},
                "substitutions": block.get("substitutions", {}),
                "dynamic_template_data": block.get("dynamic_template_data", {}),
                "send_at": block.get("send_at", message.get("send_at")),
            })
        return expanded

    @property
    def to(self) -> list[str]:
        return [r["email"] for block in self.payload["personalizations"] for r in block["to"]]

    def recipients(self) -> set[str]:
        """Everyone who receives the message (to, cc and bcc), lower-cased."""
        return {
            r["email"].lower()
            for block in self.payload["personalizations"]
            for kind in ("to", "cc", "bcc")
            for r in block.get(kind, [])
        }

    @property
    def custom_args(self) -> dict[str, str]:
        """Message-level custom args with every personalization's own laid over them."""
        merged = dict(self.payload.get("custom_args", {}))
        for block in self.payload["personalizations"]:
            merged.update(block.get("custom_args", {}))
        return merged

    def has_custom_arg(self, key: str, value: str) -> bool:
        return any(p["custom_args"].get(key) == value for p in self.personalizations)

    def body(self, mime_type: str) -> str | None:
        for block in self.payload.get("content", []):
            if block["type"].lower() == mime_type:
                return block["value"]
        return None

    @property
    def attachment_names(self) -> list[str]:
        return [a["filename"] for a in self.payload.get("attachments", [])]

    @property
    def attachments(self) -> list[Attachment]:
        """Decoded, so not cheap: prefer attachment_names when only the names are needed."""
        return [
            Attachment(
                index=i,
                filename=a["filename"],
                type=a.get("type") or "application/octet-stream",
                disposition=a.get("disposition") or "attachment",
                content_id=a.get("content_id"),
                data=decode_base64(a["content"]) or b"",
            )
            for i, a in enumerate(self.payload.get("attachments", []))
        ]

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "received_at": self.received_at,
                "payload": self.payload}


class UnknownMessage(KeyError):
    pass


class MessageStore:
    """Thread-safe; the server handles each request on its own thread."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, StoredMessage] = {}
        self._next_seq = 1
        self._directory = Path(directory) if directory is not None else None
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._load()

    def add(self, payload: dict[str, Any]) -> StoredMessage:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            message = StoredMessage(
                id=secrets.token_urlsafe(16),
                seq=self._next_seq,
                received_at=now.replace("+00:00", "Z"),
                payload=payload,
            )
            self._next_seq += 1
            self._messages[message.id] = message
            if self._directory is not None:
                self._write(message)
        return message

    def get(self, message_id: str) -> StoredMessage:
        with self._lock:
            try:
                return self._messages[message_id]
            except KeyError:
                raise UnknownMessage(message_id) from None

    def find(
        self,
        *,
        recipients: Sequence[str] = (),
        custom_args: Sequence[tuple[str, str]] = (),
        since: str | None = None,
    ) -> list[StoredMessage]:
        """Newest first; all given conditions must hold. `since` excludes that message and older."""
        with self._lock:
            messages = list(self._messages.values())
            after = 0
            if since is not None:
                if since not in self._messages:
                    raise UnknownMessage(since)
                after = self._messages[since].seq
        wanted = {r.lower() for r in recipients}
        return sorted(
            (
                m for m in messages
                if m.seq > after
                and wanted <= m.recipients()
                and all(m.has_custom_arg(k, v) for k, v in custom_args)
            ),
            key=lambda m: m.seq,
            reverse=True,
        )

    def clear(self) -> None:
        with self._lock:
            if self._directory is not None:
                for message in self._messages.values():
                    self._path(message).unlink(missing_ok=True)
            self._messages.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def _path(self, message: StoredMessage) -> Path:
        assert self._directory is not None
        return self._directory / f"{message.seq:010d}-{message.id}.json"

    def _write(self, message: StoredMessage) -> None:
        # Write then rename, so a crash never leaves a half-written file to trip the next load.
        path = self._path(message)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(message.to_record()), encoding="utf-8")
        os.replace(tmp, path)

    def _load(self) -> None:
        assert self._directory is not None
        for path in sorted(self._directory.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                message = StoredMessage(record["id"], int(record["seq"]), record["received_at"],
                                        record["payload"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable stored message %s: %s", path, exc)
                continue
            self._messages[message.id] = message
            self._next_seq = max(self._next_seq, message.seq + 1)
