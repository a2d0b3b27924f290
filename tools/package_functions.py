"""Stage and zip each function's deployable source: functions-framework loads one main.py, so
every function ships self-contained as its entry module, the `shared/` package and a pinned
requirements.txt derived from requirements.lock (the runtime lock, never the dev lock).

    python tools/package_functions.py [--out build] [NAME ...]   stage build/<name>/ and zip it
    python tools/package_functions.py --terraform                 stage only; print JSON for
                                                                  Terraform's `external` source

Terraform zips the same staged directories with `archive_file` (infra/functions.tf). Both zips
hold only files, in the same order, with a zero timestamp and mode 0644, so an archive's hash
changes exactly when a staged file's name or content changes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("oauth", "booking", "webhook", "notify")
LOCK = ROOT / "requirements.lock"
# Never shipped: bytecode, caches and tests (they would change the hash on every local run).
EXCLUDED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "tests"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
FILE_MODE = 0o644
# archive_file stamps every entry with Go's zero time, which a zip header stores as 1980-01-01.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==([^\s;#]+)(\s*;[^#]*)?")


def requirements_txt(lock_text: str) -> str:
    """The pinned `name==version` lines of a uv/pip-compile lock, without its `# via` notes."""
    pins = []
    for line in lock_text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            name, version, marker = match.groups()
            pins.append(f"{name}=={version}{(marker or '').rstrip()}")
    if not pins:
        raise ValueError("requirements.lock holds no pinned requirement: run `make lock`")
    header = "# Generated from requirements.lock by tools/package_functions.py; do not edit.\n"
    return header + "\n".join(pins) + "\n"


def _shipped(path: Path, base: Path) -> bool:
    rel = path.relative_to(base)
    return not (set(rel.parts[:-1]) & EXCLUDED_DIRS) and not path.name.endswith(EXCLUDED_SUFFIXES)


def _copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file() and _shipped(path, src):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(FILE_MODE)


def stage(name: str, out: Path) -> Path:
    """Write build/<name>/ afresh: entry module, shared/, requirements.txt. Returns the dir."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; expected one of {', '.join(FUNCTIONS)}")
    entry = ROOT / "functions" / name
    if not (entry / "main.py").is_file():
        raise FileNotFoundError(f"{entry / 'main.py'} is missing")
    target = out / name
    # Start clean so a module deleted from shared/ does not linger in the deployed source.
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _copy_tree(entry, target)
    _copy_tree(ROOT / "shared", target / "shared")
    requirements = target / "requirements.txt"
    requirements.write_text(requirements_txt(LOCK.read_text(encoding="utf-8")), encoding="utf-8")
    requirements.chmod(FILE_MODE)
    return target


def archive_entries(directory: Path) -> list[str]:
    """Relative paths of the files in `directory` in the order Go's filepath.Walk visits them
    (lexical per directory, so "a/x" precedes "a.txt"), which is archive_file's order."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    return ["/".join(parts) for parts in sorted(p.relative_to(directory).parts for p in files)]


def zip_dir(directory: Path, output: Path) -> Path:
    """Zip `directory` the way Terraform's archive_file does, reproducibly."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in archive_entries(directory):
            info = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | FILE_MODE) << 16
            zf.writestr(info, (directory / rel).read_bytes())
    return output


def package(name: str, out: Path) -> Path:
    return zip_dir(stage(name, out), out / f"{name}.zip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="functions to package (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output directory")
    parser.add_argument(
        "--terraform",
        action="store_true",
        help="stage only and print {name: staged dir} as JSON (Terraform external data source)",
    )
    args = parser.parse_args(argv)
    names = args.names or list(FUNCTIONS)
    out = args.out.resolve()
    if args.terraform:
        # The external data source sends its query on stdin; we need none of it, but read it so
        # Terraform never sees a broken pipe.
        sys.stdin.read()
        json.dump({name: str(stage(name, out)) for name in names}, sys.stdout)
        return 0
    for name in names:
        print(package(name, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
