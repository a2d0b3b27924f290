"""Every Firestore query in shared/ that needs a composite index has one in infra/firestore.tf.

The emulator serves any query without indexes, so a missing index shows up only in the cloud,
as a FAILED_PRECONDITION on the first request. This test reads the queries from the source
(`.where(filter=FieldFilter(...))`, `.where(field, op, value)`, helpers called `_where(query,
field, op, value)`, `.order_by(field)`), following a query built up over several statements
of one function, and applies Firestore's rule: equality filters alone are served by
single-field indexes; equality plus a range or sort on another field, or ranges and sorts on
several fields, need a composite index with the equality fields first.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for p in (ROOT / "shared").rglob("*.py") if "__pycache__" not in p.parts)
FILTER_FACTORIES = {"FieldFilter", "_field_filter"}
EQUALITY = {"==", "in", "array_contains", "array-contains", "array_contains_any",
            "array-contains-any"}


@dataclass
class Query:
    collection: str | None = None
    equality: set[str] = field(default_factory=set)
    sorts: list[str] = field(default_factory=list)
    ranges: set[str] = field(default_factory=set)

    def merge(self, other: "Query") -> None:
        self.collection = self.collection or other.collection
        self.equality |= other.equality
        self.sorts += [f for f in other.sorts if f not in self.sorts]
        self.ranges |= other.ranges

    @property
    def ordered(self) -> list[str]:
        """Index order after the equality fields: the sorts, then the range fields not sorted
        on, by name (Firestore's implicit order for several inequality fields)."""
        return self.sorts + sorted(self.ranges - set(self.sorts))

    def needs_composite(self) -> bool:
        ordered = set(self.ordered) - self.equality
        return bool(ordered) and len(self.equality | ordered) >= 2


def _constants() -> dict[str, str]:
    """Module-level string constants of shared/ (collection and field names)."""
    found: dict[str, str] = {}
    for path in SOURCES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                found[node.targets[0].id] = node.value.value
    return found


def _text(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _filter_args(call: ast.Call) -> list[ast.AST] | None:
    """(field, op) nodes of one filter expressed by this call, if it is one."""
    name = _call_name(call)
    if name == "where":
        for kw in call.keywords:
            if kw.arg == "filter" and isinstance(kw.value, ast.Call) \
                    and _call_name(kw.value) in FILTER_FACTORIES:
                return kw.value.args[:2]
        return call.args[:2] if len(call.args) >= 2 else None
    if name.endswith("_where") and len(call.args) >= 3:
        return call.args[1:3]
    return None


def _query_of(expr: ast.AST, variables: dict[str, Query], constants: dict[str, str]) -> Query:
    query = Query()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id in variables:
            query.merge(variables[node.id])
        if not isinstance(node, ast.Call):
            continue
        if _call_name(node) == "collection" and node.args:
            query.collection = query.collection or _text(node.args[0], constants)
        elif _call_name(node) == "order_by" and node.args:
            name = _text(node.args[0], constants)
            if name and name not in query.sorts:
                query.sorts.append(name)
        elif (args := _filter_args(node)) and len(args) == 2:
            name, op = _text(args[0], constants), _text(args[1], constants)
            if name is None or op is None:  # e.g. document-id ranges: no composite index
                continue
            if op in EQUALITY:
                query.equality.add(name)
            else:
                query.ranges.add(name)
    return query


def queries_in_source() -> list[tuple[str, Query]]:
    constants = _constants()
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            variables: dict[str, Query] = {}
            for stmt in ast.walk(func):
                if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return,
                                         ast.Expr, ast.For)):
                    continue
                expr = stmt.iter if isinstance(stmt, ast.For) else stmt.value
                if expr is None:
                    continue
                query = _query_of(expr, variables, constants)
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                        and isinstance(stmt.targets[0], ast.Name) and query.collection:
                    variables[stmt.targets[0].id] = query
                if query.collection and query.needs_composite():
                    where = f"{path.relative_to(ROOT)}:{stmt.lineno} ({func.name})"
                    found.append((where, query))
    return found


def declared_indexes() -> dict[str, list[list[str]]]:
    with (ROOT / "infra" / "firestore.tf").open(encoding="utf-8") as fh:
        config = hcl2.load(fh)
    indexes: dict[str, list[list[str]]] = {}
    for block in config.get("locals", []):
        for spec in block.get("composite_indexes", {}).values():
            fields = [f[0].strip('"') for f in spec["fields"]]
            indexes.setdefault(spec["collection"].strip('"'), []).append(fields)
    return indexes


def _served(query: Query, indexes: list[list[str]]) -> bool:
    ordered = [f for f in query.ordered if f not in query.equality]
    for fields in indexes:
        head, tail = fields[:len(query.equality)], fields[len(query.equality):]
        if set(head) == query.equality and tail[:len(ordered)] == ordered:
            return True
    return False


def test_reader_finds_queries_that_need_indexes():
    sample = ast.parse(
        "def f(db):\n"
        "    q = db().collection('bookings')\n"
        "    q = q.where(filter=FieldFilter('account_id', '==', 1))\n"
        "    return q.where(filter=FieldFilter('start', '>', 2)).stream()\n"
    )
    variables: dict[str, Query] = {}
    func = sample.body[0]
    for stmt in func.body:
        query = _query_of(stmt.value, variables, {})
        if isinstance(stmt, ast.Assign):
            variables[stmt.targets[0].id] = query
    assert query == Query("bookings", {"account_id"}, [], {"start"}) and query.needs_composite()
    assert not Query("members", {"account_id", "role"}).needs_composite()
    assert not Query("bookings", set(), [], {"start"}).needs_composite()
    # several ranges without a sort: Firestore orders them by field name
    assert Query("bookings", {"account_id"}, [], {"block_start", "block_end"}).ordered == [
        "block_end", "block_start"]
    assert Query("bookings", set(), ["start"], {"end", "start"}).ordered == ["start", "end"]
    assert _served(query, [["account_id", "start"]])
    assert not _served(query, [["start", "account_id"]])


def test_every_query_has_its_composite_index():
    indexes = declared_indexes()
    missing: dict[str, str] = {}
    for where, query in queries_in_source():
        if not _served(query, indexes.get(query.collection, [])):
            shape = f"{query.collection} where {sorted(query.equality)} then {query.ordered}"
            missing.setdefault(shape, where)
    missing = [f"{where}: {shape}" for shape, where in missing.items()]
    assert not missing, "add composite indexes to infra/firestore.tf for:\n" + "\n".join(missing)
