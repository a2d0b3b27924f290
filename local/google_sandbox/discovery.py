"""Validation of Calendar requests against the real discovery document.

The document shipped inside google-api-python-client is the contract the
production code is built against, so the sandbox routes and validates with the
very same file: an API surface the client library would not produce (unknown
paths, parameters, body fields) fails here the way it fails at Google.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from .errors import ApiError, invalid_argument


def discovery_path() -> str:
    import googleapiclient

    return os.path.join(
        os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "calendar.v3.json"
    )


@dataclass
class Method:
    id: str
    http_method: str
    path: str
    segments: list  # literal strings or ("var", name)
    parameters: dict
    request_ref: str | None
    response_ref: str | None
    scopes: list

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if isinstance(s, str))


class Discovery:
    def __init__(self, doc: dict):
        self.doc = doc
        self.service_path = doc["servicePath"]  # "calendar/v3/"
        self.schemas = doc["schemas"]
        self.global_params = doc.get("parameters", {})
        self.all_scopes = set(doc.get("auth", {}).get("oauth2", {}).get("scopes", {}))
        self.methods: dict[str, Method] = {}
        self._collect(doc.get("resources", {}))

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> "Discovery":
        with open(discovery_path(), encoding="utf-8") as fh:
            return cls(json.load(fh))

    def _collect(self, resources: dict) -> None:
        for res in resources.values():
            for m in res.get("methods", {}).values():
                segments: list = []
                for part in m["path"].split("/"):
                    var = re.fullmatch(r"\{\+?([^}]+)\}", part)
                    segments.append(("var", var.group(1)) if var else part)
                self.methods[m["id"]] = Method(
                    id=m["id"],
                    http_method=m["httpMethod"],
                    path=m["path"],
                    segments=segments,
                    parameters=m.get("parameters", {}),
                    request_ref=(m.get("request") or {}).get("$ref"),
                    response_ref=(m.get("response") or {}).get("$ref"),
                    scopes=m.get("scopes", []),
                )
            self._collect(res.get("resources", {}))

    # ---- routing ---------------------------------------------------------------
    def route(self, http_method: str, raw_subpath: str) -> tuple[Method, dict[str, str]]:
        """Match a path below the service path (still percent-encoded)."""
        parts = raw_subpath.split("/") if raw_subpath else [""]
        candidates = []
        path_exists = False
        for m in self.methods.values():
            if len(m.segments) != len(parts):
                continue
            params: dict[str, str] = {}
            for seg, part in zip(m.segments, parts):
                if isinstance(seg, str):
                    if seg != part:
                        break
                else:
                    if not part:
                        break
                    params[seg[1]] = unquote(part)
            else:
                path_exists = True
                if m.http_method == http_method.upper():
                    candidates.append((m.literal_count, m, params))
        if not candidates:
            if path_exists:
                raise ApiError(404, "notFound", "Not Found", top_message=(
                    f"Method {http_method.upper()} is not defined for /{self.service_path}{raw_subpath}"))
            raise ApiError(404, "notFound", "Not Found")
        # Literal segments win over variables ("events/watch" is not events.get of id "watch").
        candidates.sort(key=lambda c: -c[0])
        return candidates[0][1], candidates[0][2]

    # ---- query parameters ------------------------------------------------------
    def validate_query(self, method: Method, query: dict[str, list[str]]) -> dict[str, Any]:
        """Type-check query parameters; returns them converted (repeated -> list)."""
        out: dict[str, Any] = {}
        for name, values in query.items():
            spec = method.parameters.get(name) or self.global_params.get(name)
            if spec is None or spec.get("location") == "path":
                msg = (
                    f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. "
                    f"Field '{name}' could not be found in request message."
                )
                raise invalid_argument(msg)
            if len(values) > 1 and not spec.get("repeated"):
                raise ApiError(400, "invalidParameter", f"Parameter '{name}' may not be repeated.",
                               location=name, location_type="parameter")
            converted = [self._convert(name, spec, v) for v in values]
            out[name] = converted if spec.get("repeated") else converted[0]
        for name, spec in method.parameters.items():
            if spec.get("required") and spec.get("location") == "query" and name not in out:
                raise ApiError(400, "required", "Required parameter: " + name, location=name,
                               location_type="parameter")
        return out

    def _convert(self, name: str, spec: dict, value: str) -> Any:
        def invalid(message: str) -> ApiError:
            return ApiError(400, "invalidParameter", message, location=name, location_type="parameter")

        typ = spec.get("type", "string")
        if typ == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise invalid(f"Invalid integer value: '{value}'.")
            num = int(value)
            lo, hi = spec.get("minimum"), spec.get("maximum")
            if (lo is not None and num < int(lo)) or (hi is not None and num > int(hi)):
                rng = f"[{lo if lo is not None else ''}, {hi if hi is not None else ''}]"
                raise invalid(f"Invalid value '{value}'. Values must be within the range: {rng}")
            return num
        if typ == "boolean":
            if value.lower() not in ("true", "false"):
                raise invalid(f"Invalid boolean value: '{value}'.")
            return value.lower() == "true"
        if "enum" in spec and value not in spec["enum"]:
            pattern = "|".join(spec["enum"])
            raise invalid(f"Invalid value '{value}'. Values must match the following regular expression: '{pattern}'")
        return value

    # ---- request bodies --------------------------------------------------------
    def validate_body(self, method: Method, body: Any) -> None:
        if not method.request_ref:
            return
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected an object at 'resource'.", "resource")
        self._check(body, {"$ref": method.request_ref}, "resource")

    def _resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        return schema

    def _check(self, value: Any, schema: dict, where: str) -> None:
        schema = self._resolve(schema)
        if value is None:
            return  # explicit null clears a field (patch semantics)
        typ = schema.get("type")
        if "properties" in schema or typ == "object":
            if not isinstance(value, dict):
                self._type_error(where, "object", value)
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            for key, sub in value.items():
                if props is not None and key in props:
                    self._check(sub, props[key], f"{where}.{key}")
                elif extra is not None:
                    self._check(sub, extra, f"{where}[{key!r}]")
                elif props is None:
                    continue  # free-form object in the schema
                else:
                    msg = f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
                    raise invalid_argument(msg, where)
            return
        if typ == "array":
            if not isinstance(value, list):
                self._type_error(where, "array", value)
            for i, item in enumerate(value):
                self._check(item, schema.get("items", {}), f"{where}[{i}]")
            return
        if typ == "string":
            # int64 values travel as strings but numbers are accepted too.
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self._type_error(where, "TYPE_STRING", value)
            if not isinstance(value, str) and schema.get("format") not in ("int64", "uint64", "double"):
                self._type_error(where, "TYPE_STRING", value)
            return
        if typ == "integer":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
            ):
                self._type_error(where, "TYPE_INT32", value)
            return
        if typ == "boolean":
            if not isinstance(value, bool):
                self._type_error(where, "TYPE_BOOL", value)
            return
        if typ == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._type_error(where, "TYPE_DOUBLE", value)

    @staticmethod
    def _type_error(where: str, expected: str, value: Any) -> None:
        shown = json.dumps(value)[:80]
        raise invalid_argument(f"Invalid value at '{where}' ({expected}), {shown}", where)


# ---- partial responses (the "fields" parameter) ---------------------------------
def parse_fields(spec: str) -> dict:
    """Parse 'items(id,start/dateTime),nextPageToken' into a nested selection tree."""
    pos = 0

    def parse_list(end: str | None) -> dict:
        nonlocal pos
        tree: dict = {}
        while pos < len(spec):
            name_start = pos
            while pos < len(spec) and spec[pos] not in ",()/":
                pos += 1
            name = spec[name_start:pos].strip()
            if not name:
                raise ValueError("empty field name")
            node = tree.setdefault(name, {})
            # a/b/c is shorthand for a(b(c))
            while pos < len(spec) and spec[pos] == "/":
                pos += 1
                sub_start = pos
                while pos < len(spec) and spec[pos] not in ",()/":
                    pos += 1
                sub = spec[sub_start:pos].strip()
                if not sub:
                    raise ValueError("empty field name")
                node = node.setdefault(sub, {})
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                node.update(parse_list(")"))
                if pos >= len(spec) or spec[pos] != ")":
                    raise ValueError("unbalanced parentheses")
                pos += 1
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            if end and pos < len(spec) and spec[pos] == end:
                return tree
            if pos < len(spec):
                raise ValueError(f"unexpected character {spec[pos]!r}")
        if end:
            raise ValueError("unbalanced parentheses")
        return tree

    return parse_list(None)


def apply_fields(value: Any, tree: dict) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:
        sub = tree["*"]
        return {k: apply_fields(v, sub) for k, v in value.items()}
    return {k: apply_fields(value[k], sub) for k, sub in tree.items() if k in value}
