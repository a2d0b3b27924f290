"""Each function's deployment archive, built exactly as Terraform builds it (same staged
directory, same file set and modes), installs from its own requirements.txt into a clean
virtualenv and answers GET /healthz from the unpacked archive alone, so a deploy cannot fail
on a missing file or package.

The virtualenv is cached under .local/ by the hash of requirements.txt (all four functions
share the lock), so only a dependency change pays for a new install.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tools import package_functions

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".venv" / "bin" / "uv"
VENV_CACHE = ROOT / ".local" / "function-venvs"

# Run in the unpacked archive with nothing of the repository on the path and no settings, as
# on Cloud Functions before any request: healthz must need neither Firestore nor secrets.
HEALTH_PROBE = """
import json, sys
from functions_framework import create_app
app = create_app(sys.argv[1], "main.py")
response = app.test_client().get("/healthz")
print(json.dumps({"status": response.status_code, "body": response.get_json(silent=True)}))
"""


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("build")
    return {name: package_functions.package(name, out) for name in package_functions.FUNCTIONS}


@pytest.fixture(scope="module")
def function_venv(archives) -> Path:
    """A virtualenv holding exactly the archives' requirements.txt, cached by its hash."""
    requirements = {zipfile.ZipFile(a).read("requirements.txt") for a in archives.values()}
    assert len(requirements) == 1, "functions are expected to share one requirements.txt"
    content = requirements.pop()
    key = hashlib.sha256(content + sys.version.encode()).hexdigest()[:16]
    venv = VENV_CACHE / key
    if (venv / ".complete").exists():
        return venv
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=VENV_CACHE))
    try:
        (staging / "requirements.txt").write_bytes(content)
        target = staging / "venv"
        subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(target)],
                       check=True, timeout=120)
        result = subprocess.run(
            [str(UV), "pip", "install", "-q", "--python", str(target / "bin" / "python"),
             "-r", str(staging / "requirements.txt")],
            capture_output=True, text=True, timeout=900,
        )
        assert result.returncode == 0, f"requirements.txt does not install:\n{result.stderr[-3000:]}"
        (target / ".complete").touch()
        try:
            # Another run may have finished the same venv meanwhile; either copy is good.
            target.rename(venv)
        except OSError:
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert (venv / ".complete").exists()
    for stale in VENV_CACHE.iterdir():
        if stale.name != key and stale.is_dir() and (stale / ".complete").exists():
            shutil.rmtree(stale, ignore_errors=True)
    return venv


def test_archive_holds_entry_point_shared_and_pinned_requirements(archives):
    lock_pins = {
        line.split("==")[0].lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name, archive in archives.items():
        names = zipfile.ZipFile(archive).namelist()
        assert names[:2] == ["main.py", "requirements.txt"], name
        assert "shared/__init__.py" in names and "shared/config.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert not [n for n in names if n.startswith(("tests/", "local/", "functions/"))]
        assert {i.external_attr >> 16 for i in zipfile.ZipFile(archive).infolist()} == {0o100644}
        requirements = zipfile.ZipFile(archive).read("requirements.txt").decode().splitlines()
        pins = [line for line in requirements if not line.startswith("#")]
        assert pins and all("==" in pin for pin in pins), "every requirement must be pinned"
        assert {pin.split("==")[0].lower() for pin in pins} == lock_pins


def test_archive_is_reproducible_and_changes_only_with_content(archives, tmp_path):
    again = package_functions.package("oauth", tmp_path)
    assert again.read_bytes() == archives["oauth"].read_bytes()
    staged = tmp_path / "oauth"
    (staged / "shared" / "config.py").write_text("# changed\n", encoding="utf-8")
    changed = package_functions.zip_dir(staged, tmp_path / "changed.zip")
    assert changed.read_bytes() != archives["oauth"].read_bytes()


def test_archive_order_matches_terraform_walk(tmp_path):
    (tmp_path / "a").mkdir()
    for rel in ("a.txt", "a/x.py", "b.py", "a/B.py"):
        (tmp_path / rel).write_text(rel)
    # Go's filepath.Walk lists a directory's entries lexically and descends at once.
    assert package_functions.archive_entries(tmp_path) == ["a/B.py", "a/x.py", "a.txt", "b.py"]


def test_requirements_txt_keeps_pins_and_markers_only():
    lock = (
        "# This file was autogenerated by uv\n"
        "anyio==4.16.0\n    # via starlette\n"
        "pywin32==311 ; sys_platform == 'win32'\n    # via x\n"
        "--index-url https://example.invalid/simple\n"
    )
    text = package_functions.requirements_txt(lock)
    assert text.splitlines()[1:] == ["anyio==4.16.0", "pywin32==311 ; sys_platform == 'win32'"]
    with pytest.raises(ValueError):
        package_functions.requirements_txt("# empty\n")


def test_terraform_mode_prints_the_staged_directories(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "package_functions.py"), "--terraform",
         "--out", str(tmp_path)],
        input="{}", capture_output=True, text=True, timeout=60, check=True,
    )
    staged = json.loads(result.stdout)
    assert set(staged) == set(package_functions.FUNCTIONS)
    assert all(isinstance(v, str) and (Path(v) / "main.py").is_file() for v in staged.values())


def _probe(name: str, archive: Path, venv: Path, workdir: Path) -> dict:
    unpacked = workdir / name
    zipfile.ZipFile(archive).extractall(unpacked)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "LANG": "C.UTF-8"}
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", HEALTH_PROBE, name],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"{name} does not start from its archive:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_archive_serves_healthz_from_a_clean_virtualenv(archives, function_venv, tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(archives, pool.map(
            lambda name: _probe(name, archives[name], function_venv, tmp_path), archives)))
    for name, result in results.items():
        assert result == {"status": 200, "body": {"status": "ok", "function": name}}, name


def test_probe_fails_on_an_archive_missing_a_module(archives, function_venv, tmp_path):
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(archives["notify"]) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if info.filename != "shared/web/http.py":
                dst.writestr(info, src.read(info))
    with pytest.raises(AssertionError, match="does not start from its archive"):
        _probe("notify", broken, function_venv, tmp_path)
