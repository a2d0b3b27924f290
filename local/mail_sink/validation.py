"""Validation of `POST /v3/mail/send` payloads, following SendGrid's v3 rules.

Messages, `field` paths and `help` links copy what SendGrid returns where its wording is known
(its docs, and error bodies quoted in sendgrid-* issue threads). Every problem found is reported,
as SendGrid does, but the inside of a value of the wrong type is not inspected.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

HELP_BASE = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_REPLY_TO_LIST = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_ARGS_BYTES = 10_000

RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "To", "From", "Subject", "Reply-To", "Cc", "Bcc", "Content-Type",
        "Content-Transfer-Encoding", "DKIM-Signature", "x-sg-id", "x-sg-eid",
    )
)

# Deliberately close to what SendGrid accepts rather than to RFC 5322: no display names, no
# quoted local parts, a dotted domain.
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)

_FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    'email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
_TO_REQUIRED = (
    "The to array is required for all personalization objects, and must have at least one email "
    "object with a valid email address."
)
_COPY_LIST_EMPTY = (
    "The {kind} array, when used, must at least have an email parameter with a valid email "
    'address and it may also contain a name parameter. e.g. {{"email" : "example@example.com"}}  '
    'or {{"email" : "example@example.com", "name" : "Example Recipient"}}.'
)
_SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined."
)
_CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must be at "
    "least one defined content block. We typically suggest both text/plain and text/html blocks "
    "are included, but only one block is required."
)
_CONTENT_ORDER = (
    "If present, text/plain content must be first, followed by text/html, followed by any other "
    "content."
)


@dataclass(frozen=True)
class FieldError:
    message: str
    field: str | None
    help: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "field": self.field, "help": self.help}


def validate_mail(payload: Any) -> list[FieldError]:
    """All problems SendGrid would report for this request body; empty when it would accept it."""
    validator = _Validator()
    validator.check(payload)
    return validator.errors


def is_sandbox(payload: dict[str, Any]) -> bool:
    """True when `mail_settings.sandbox_mode.enable` is set (call only on a validated payload)."""
    settings = payload.get("mail_settings")
    sandbox = settings.get("sandbox_mode") if isinstance(settings, dict) else None
    return isinstance(sandbox, dict) and sandbox.get("enable") is True


def decode_base64(text: str) -> bytes | None:
    """Attachment bytes, or None when `text` is not base64; tolerates MIME-style line breaks."""
    try:
        return base64.b64decode(re.sub(r"[\r\n]", "", text), validate=True)
    except (binascii.Error, ValueError):
        return None


def _help_url(field: str | None, anchor: str | None) -> str | None:
    if anchor is None:
        if field is None:
            return None
        # SendGrid's anchors drop array indexes and the trailing address part:
        # "personalizations.0.to.0.email" -> "#message.personalizations.to".
        parts = [p for p in field.split(".") if not p.isdigit()]
        if len(parts) > 1 and parts[-1] in ("email", "name"):
            parts.pop()
        anchor = "message." + ".".join(parts)
    return f"{HELP_BASE}#{anchor}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _has_separator(name: str) -> bool:
    # A display name with "," or ";" splits the address header; SendGrid accepts it quoted.
    quoted = len(name) >= 2 and name.startswith('"') and name.endswith('"')
    return not quoted and ("," in name or ";" in name)


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        # Message-level custom args, once known to be valid: each personalization's own are
        # overlaid on them for the size limit.
        self.message_args: dict[str, str] = {}

    def error(self, message: str, field: str | None, anchor: str | None = None) -> None:
        self.errors.append(FieldError(message, field, _help_url(field, anchor)))

    def expect(self, value: Any, expected: str, field: str | None) -> bool:
        if _json_type(value) == expected:
            return True
        self.error(f"Invalid type. Expected: {expected}, given: {_json_type(value)}.", field)
        return False

    def check(self, payload: Any) -> None:
        if not self.expect(payload, "object", None):
            return
        template_id = payload.get("template_id")
        if template_id is not None:
            self.expect(template_id, "string", "template_id")
        has_template = isinstance(template_id, str) and template_id != ""

        message_args = payload.get("custom_args")
        if self.string_map(message_args, "custom_args") and self.custom_args_size(
            message_args, "custom_args"
        ):
            self.message_args = message_args
        personalizations = self.personalizations(payload.get("personalizations"))
        self.address(payload.get("from"), "from", missing=_FROM_REQUIRED,
                     invalid="The from email does not contain a valid address.")
        self.subject(payload.get("subject"), personalizations, has_template)
        self.content(payload.get("content"), has_template)
        self.reply_to(payload)
        self.attachments(payload.get("attachments"))
        self.categories(payload.get("categories"))
        self.headers(payload.get("headers"), "headers")
        self.optional(payload, "sections", "object")
        self.optional(payload, "send_at", "integer")
        self.optional(payload, "batch_id", "string")
        self.optional(payload, "asm", "object")
        self.optional(payload, "ip_pool_name", "string")
        self.optional(payload, "tracking_settings", "object")
        self.mail_settings(payload.get("mail_settings"))

    def optional(self, obj: dict[str, Any], key: str, expected: str, prefix: str = "") -> None:
        if obj.get(key) is not None:
            self.expect(obj[key], expected, prefix + key)

    # -- recipients --------------------------------------------------------------------------

    def personalizations(self, value: Any) -> list[dict[str, Any]]:
        """The personalization objects (well-formed or not) for later cross-field checks."""
        if value is None or value == []:
            self.error(
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
                "-Personalizations-Errors",
            )
            return []
        if not self.expect(value, "array", "personalizations"):
            return []
        if len(value) > MAX_PERSONALIZATIONS:
            self.error(
                f"The personalization block is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(value)} "
                "personalizations. Please consider splitting this into multiple requests and "
                "resending your request.",
                "personalizations",
                "-Personalizations-Errors",
            )
        blocks = []
        total_recipients = 0
        for i, block in enumerate(value):
            field = f"personalizations.{i}"
            if not self.expect(block, "object", field):
                continue
            blocks.append(block)
            total_recipients += self.personalization(block, field)
        if total_recipients > MAX_RECIPIENTS:
            self.error(
                f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per "
                "request.",
                "personalizations",
                "-Personalizations-Errors",
            )
        return blocks

    def personalization(self, block: dict[str, Any], field: str) -> int:
        """Checks one personalization and returns how many recipients it names."""
        seen: set[str] = set()
        duplicate_reported = False
        count = 0
        for kind in ("to", "cc", "bcc"):
            for email in self.recipient_list(block.get(kind), f"{field}.{kind}", kind):
                count += 1
                if email.lower() in seen and not duplicate_reported:
                    self.error(
                        "Each email address in the personalization block should be unique "
                        "between to, cc, and bcc. We found the first duplicate instance of "
                        f"[{email}] in the {field}.{kind} field.",
                        field,
                    )
                    duplicate_reported = True
                seen.add(email.lower())
        if block.get("from") is not None:
            self.address(block["from"], f"{field}.from", missing=_FROM_REQUIRED,
                         invalid="The from email does not contain a valid address.")
        self.optional(block, "subject", "string", f"{field}.")
        self.headers(block.get("headers"), f"{field}.headers")
        self.string_map(block.get("substitutions"), f"{field}.substitutions")
        self.optional(block, "dynamic_template_data", "object", f"{field}.")
        if self.string_map(block.get("custom_args"), f"{field}.custom_args"):
            self.custom_args_size({**self.message_args, **block["custom_args"]},
                                  f"{field}.custom_args")
        self.optional(block, "send_at", "integer", f"{field}.")
        return count

    def recipient_list(self, value: Any, field: str, kind: str) -> list[str]:
        """Checks a to/cc/bcc array; returns every email address given in it, valid or not."""
        if value is None or value == []:
            if kind == "to":
                self.error(_TO_REQUIRED, field)
            elif value == []:
                self.error(_COPY_LIST_EMPTY.format(kind=kind), field)
            return []
        if not self.expect(value, "array", field):
            return []
        missing = _TO_REQUIRED if kind == "to" else _COPY_LIST_EMPTY.format(kind=kind)
        emails = []
        for j, recipient in enumerate(value):
            email = self.address(recipient, f"{field}.{j}", missing=missing,
                                 invalid="Does not contain a valid address.")
            if email is not None:
                emails.append(email)
        return emails

    def address(self, value: Any, field: str, *, missing: str, invalid: str) -> str | None:
        """Checks an {email, name} object; returns the email string if there is one."""
        if value is None:
            self.error(missing, f"{field}.email")
            return None
        if not self.expect(value, "object", field):
            return None
        email = value.get("email")
        if email is None or email == "":
            self.error(missing, f"{field}.email")
            email = None
        elif not self.expect(email, "string", f"{field}.email"):
            email = None
        elif not _EMAIL.match(email):
            self.error(invalid, f"{field}.email")
        name = value.get("name")
        if name is not None and self.expect(name, "string", f"{field}.name"):
            if _has_separator(name):
                self.error("The name parameter may not contain ';' or ',' unless it is enclosed "
                           "in double quotes.", f"{field}.name")
        return email

    def reply_to(self, payload: dict[str, Any]) -> None:
        reply_to, reply_to_list = payload.get("reply_to"), payload.get("reply_to_list")
        if reply_to is not None and reply_to_list is not None:
            self.error("The reply_to and reply_to_list parameters are mutually exclusive; "
                       "use only one of them.", "reply_to_list")
        if reply_to is not None:
            invalid = "The reply_to email does not contain a valid address."
            self.address(reply_to, "reply_to", missing=invalid, invalid=invalid)
        if reply_to_list is None or not self.expect(reply_to_list, "array", "reply_to_list"):
            return
        if not reply_to_list or len(reply_to_list) > MAX_REPLY_TO_LIST:
            self.error(f"The reply_to_list must contain between 1 and {MAX_REPLY_TO_LIST} "
                       "email objects.", "reply_to_list")
        invalid = "The reply_to_list email does not contain a valid address."
        seen: set[str] = set()
        for j, entry in enumerate(reply_to_list):
            email = self.address(entry, f"reply_to_list.{j}", missing=invalid, invalid=invalid)
            if email is None:
                continue
            if email.lower() in seen:
                self.error("Each email address in the reply_to_list should be unique.",
                           f"reply_to_list.{j}.email")
            seen.add(email.lower())

    # -- subject and body --------------------------------------------------------------------

    def subject(
        self, value: Any, personalizations: list[dict[str, Any]], has_template: bool
    ) -> None:
        if value is not None and not self.expect(value, "string", "subject"):
            return
        every_block_has_one = all(
            isinstance(p.get("subject"), str) and p["subject"] for p in personalizations
        )
        if not value and not has_template and not every_block_has_one:
            self.error(_SUBJECT_REQUIRED, "subject")

    def content(self, value: Any, has_template: bool) -> None:
        if value is None or value == []:
            if not has_template:
                self.error(_CONTENT_REQUIRED, "content")
            return
        if not self.expect(value, "array", "content"):
            return
        types: list[str] = []
        for i, block in enumerate(value):
            field = f"content.{i}"
            if not self.expect(block, "object", field):
                continue
            ctype, text = block.get("type"), block.get("value")
            if not isinstance(ctype, str) or not ctype:
                self.error("The content type must be a string at least one character in length.",
                           f"{field}.type")
            elif ";" in ctype or "\r" in ctype or "\n" in ctype:
                self.error("The content type cannot contain ';', or CRLF characters.",
                           f"{field}.type")
            else:
                types.append(ctype.lower())
            if not isinstance(text, str) or not text:
                self.error("The content value must be a string at least one character in length.",
                           f"{field}.value")
        expected_html_index = 1 if "text/plain" in types else 0
        if ("text/plain" in types and types[0] != "text/plain") or (
            "text/html" in types and types.index("text/html") != expected_html_index
        ):
            self.error(_CONTENT_ORDER, "content")

    def attachments(self, value: Any) -> None:
        if value is None or not self.expect(value, "array", "attachments"):
            return
        for i, attachment in enumerate(value):
            field = f"attachments.{i}"
            if not self.expect(attachment, "object", field):
                continue
            content = attachment.get("content")
            if content is None or content == "":
                self.error("The attachment content is required.", f"{field}.content")
            elif self.expect(content, "string", f"{field}.content") and (
                decode_base64(content) is None
            ):
                self.error("The attachment content must be base64 encoded.", f"{field}.content")
            filename = attachment.get("filename")
            if not isinstance(filename, str) or not filename:
                self.error("The attachment filename is required.", f"{field}.filename")
            mime_type = attachment.get("type")
            if mime_type is not None and self.expect(mime_type, "string", f"{field}.type"):
                if not _attachment_type_allowed(mime_type):
                    self.error("The attachment type cannot contain ';', or CRLF characters.",
                               f"{field}.type")
            disposition = attachment.get("disposition")
            if disposition is not None and disposition not in ("inline", "attachment"):
                self.error('The attachment disposition must be either "inline" or "attachment".',
                           f"{field}.disposition")
            content_id = attachment.get("content_id")
            if content_id is not None:
                self.expect(content_id, "string", f"{field}.content_id")
            if disposition == "inline" and not content_id:
                self.error("The content_id parameter is required if disposition = 'inline'.",
                           f"{field}.content_id")

    # -- metadata ----------------------------------------------------------------------------

    def categories(self, value: Any) -> None:
        if value is None or not self.expect(value, "array", "categories"):
            return
        if len(value) > MAX_CATEGORIES:
            self.error(f"You may not have more than {MAX_CATEGORIES} categories per request.",
                       "categories")
        for i, category in enumerate(value):
            if self.expect(category, "string", f"categories.{i}") and (
                len(category) > MAX_CATEGORY_LENGTH
            ):
                self.error(f"A category cannot have more than {MAX_CATEGORY_LENGTH} characters.",
                           f"categories.{i}")

    def headers(self, value: Any, field: str) -> None:
        if not self.string_map(value, field):
            return
        reserved = sorted(name for name in value if name.lower() in RESERVED_HEADERS)
        if reserved:
            self.error(
                "The following headers are reserved and cannot be set: "
                f"{', '.join(reserved)}. Use the matching mail send parameter instead.",
                field,
            )

    def string_map(self, value: Any, field: str) -> bool:
        """Checks an object whose values must all be strings; True if it is present and valid."""
        if value is None or not self.expect(value, "object", field):
            return False
        valid = True
        for key, item in value.items():
            valid = self.expect(item, "string", f"{field}.{key}") and valid
        return valid

    def custom_args_size(self, args: dict[str, str], field: str) -> bool:
        # SendGrid limits the custom args each recipient's email carries: the message-level ones
        # overlaid with its personalization's own.
        size = len(json.dumps(args, separators=(",", ":")).encode("utf-8"))
        if size > MAX_CUSTOM_ARGS_BYTES:
            self.error(f"The custom_args may not exceed {MAX_CUSTOM_ARGS_BYTES:,} bytes per "
                       f"personalization; these have {size:,}.", field)
            return False
        return True

    def mail_settings(self, value: Any) -> None:
        if value is None or not self.expect(value, "object", "mail_settings"):
            return
        sandbox = value.get("sandbox_mode")
        if sandbox is not None and self.expect(sandbox, "object", "mail_settings.sandbox_mode"):
            self.optional(sandbox, "enable", "boolean", "mail_settings.sandbox_mode.")


def _attachment_type_allowed(mime_type: str) -> bool:
    # SendGrid rejects parameters in an attachment type except `method`, which it accepts so that
    # calendar invites can say "text/calendar; method=REQUEST" ("; charset=..." is refused).
    if not mime_type or "\r" in mime_type or "\n" in mime_type:
        return False
    _, *params = mime_type.split(";")
    return all(p.strip().lower().startswith("method=") for p in params)
