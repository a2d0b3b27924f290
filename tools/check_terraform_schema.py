"""Check infra/*.tf against provider schemas without `terraform init` (which needs a download).

    python tools/check_terraform_schema.py [infra] [--schema SCHEMA.json]

Every resource and data source type must exist; every argument and nested block must exist
in that type's schema and be settable (not computed-only); blocks must be written as blocks,
within their max_items; every required argument and block must be set, dynamic blocks
included. The google schema comes from the offline JSON export of hashicorp/google; the small
utility providers used next to it (archive, external, time) are described below from their
sources, since their schemas are not exported.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = ROOT.parent / "shared" / "terraform" / "google-provider-6.50.0-schema.json"

# Terraform meta-arguments and meta-blocks: valid on every resource / data source.
META = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner",
                  "connection"})
# python-hcl2 annotations, not configuration.
ANNOTATIONS = frozenset({"__is_block__", "__comments__", "__inline_comments__", "__start_line__",
                         "__end_line__"})


def _attr(required: bool = False, computed: bool = False) -> dict:
    return {"required": required, "optional": not required and not computed,
            "computed": computed}


# hashicorp/archive 2.7 (data archive_file), hashicorp/external 2.3 (data external),
# hashicorp/time 0.13 (time_sleep), from each provider's schema definition.
UTILITY_SCHEMAS = {
    "data_sources": {
        "archive_file": {
            "attributes": {
                "type": _attr(required=True), "output_path": _attr(required=True),
                "source_content": _attr(), "source_content_filename": _attr(),
                "source_file": _attr(), "source_dir": _attr(), "excludes": _attr(),
                "follow_symlinks": _attr(), "output_file_mode": _attr(),
                **{name: _attr(computed=True) for name in (
                    "id", "output_size", "output_md5", "output_sha", "output_sha256",
                    "output_base64sha256", "output_sha512", "output_base64sha512")},
            },
            "blocks": {"source": {"nesting": "set", "required": False, "max_items": None,
                                  "attributes": {"content": _attr(required=True),
                                                 "filename": _attr(required=True)},
                                  "blocks": {}}},
        },
        "external": {
            "attributes": {"program": _attr(required=True), "query": _attr(),
                           "working_dir": _attr(), "id": _attr(computed=True),
                           "result": _attr(computed=True)},
            "blocks": {},
        },
    },
    "resources": {
        "time_sleep": {
            "attributes": {"create_duration": _attr(), "destroy_duration": _attr(),
                           "triggers": _attr(), "id": _attr(computed=True)},
            "blocks": {},
        },
    },
}


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _is_block_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and v.get("__is_block__")
                                           for v in value) and bool(value)


def _settable(spec: dict) -> bool:
    return bool(spec.get("required") or spec.get("optional"))


def check_body(body: dict, schema: dict, where: str, file: str, meta=META) -> list[Problem]:
    problems: list[Problem] = []
    attributes = schema.get("attributes", {})
    blocks = schema.get("blocks", {})
    present_blocks: dict[str, int] = {}

    for key, value in body.items():
        if key in ANNOTATIONS or key in meta:
            continue
        if key == "dynamic":
            for dyn in value:
                for label, spec in dyn.items():
                    if label in ANNOTATIONS:
                        continue
                    name = _unquote(label)
                    if name not in blocks:
                        problems.append(Problem(file, where, f"unknown dynamic block {name!r}"))
                        continue
                    present_blocks[name] = present_blocks.get(name, 0) + 1
                    for content in spec.get("content", []):
                        problems += check_body(content, blocks[name], f"{where}.{name}", file,
                                               meta=frozenset())
            continue
        if key in attributes:
            if not _settable(attributes[key]):
                problems.append(Problem(file, where, f"{key!r} is computed-only, cannot be set"))
            elif _is_block_list(value):
                problems.append(Problem(file, where, f"{key!r} is an argument, not a block"))
            continue
        if key in blocks:
            if not _is_block_list(value):
                problems.append(Problem(file, where, f"{key!r} is a block, written as an argument"))
                continue
            present_blocks[key] = present_blocks.get(key, 0) + len(value)
            max_items = blocks[key].get("max_items")
            if max_items is not None and len(value) > max_items:
                problems.append(Problem(file, where, f"block {key!r} at most {max_items} time(s)"))
            for item in value:
                problems += check_body(item, blocks[key], f"{where}.{key}", file,
                                       meta=frozenset())
            continue
        problems.append(Problem(file, where, f"unknown argument or block {key!r}"))

    for key, spec in attributes.items():
        if spec.get("required") and key not in body:
            problems.append(Problem(file, where, f"required argument {key!r} is missing"))
    for key, spec in blocks.items():
        if (spec.get("required") or spec.get("min_items")) and key not in present_blocks:
            problems.append(Problem(file, where, f"required block {key!r} is missing"))
    return problems


def check_directory(directory: Path, schema_path: Path = DEFAULT_SCHEMA) -> list[Problem]:
    google = json.loads(schema_path.read_text(encoding="utf-8"))
    kinds = {
        "resource": {**google["resources"], **UTILITY_SCHEMAS["resources"]},
        "data": {**google["data_sources"], **UTILITY_SCHEMAS["data_sources"]},
    }
    problems: list[Problem] = []
    files = sorted(directory.glob("*.tf"))
    if not files:
        return [Problem(str(directory), "-", "no .tf files")]
    for path in files:
        with path.open(encoding="utf-8") as fh:
            config = hcl2.load(fh)
        name = path.name
        for kind, types in kinds.items():
            for entry in config.get(kind, []):
                for type_label, instances in entry.items():
                    rtype = _unquote(type_label)
                    for instance_label, body in instances.items():
                        where = f"{'data.' if kind == 'data' else ''}{rtype}.{_unquote(instance_label)}"
                        if rtype not in types:
                            problems.append(Problem(name, where, f"unknown {kind} type {rtype!r}"))
                            continue
                        problems += check_body(body, types[rtype], where, name)
        for entry in config.get("provider", []):
            for label, body in entry.items():
                if _unquote(label) == "google":
                    problems += check_body(body, google["provider_config"], "provider.google",
                                           name, meta=frozenset({"alias"}))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", type=Path, default=ROOT / "infra")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    args = parser.parse_args(argv)
    problems = check_directory(args.directory, args.schema)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)" if problems else "schema check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
