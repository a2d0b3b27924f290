"""`python -m local.stack` (what `make run` starts) comes up, writes stack.json with every URL
and the demo logins, every URL answers, and Ctrl-C leaves no process and no port behind."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from local.stack import PORTS, ROOT, free_port, port_open


def _group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process in the group: each service runs in its own group, so this
    also catches children such as the Firestore emulator's Java process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False


def test_stack_starts_within_a_minute_and_stops_cleanly(tmp_path, stack):
    # `stack` only guarantees the tools are there; this test runs a second, separate stack.
    env = {**os.environ, "CALBRIDGE_LOCAL_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for var, _ in PORTS.values():
        env[var] = str(free_port())
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack_file = tmp_path / "stack.json"
    try:
        while not stack_file.exists():
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() - started < 60, "stack not up within 60 s"
            time.sleep(0.2)
        info = json.loads(stack_file.read_text())
        for name, url in {**info["services"], **info["pages"]}.items():
            if name == "tasks":  # gRPC, not HTTP
                continue
            assert requests.get(url, timeout=5).status_code < 500, name
        assert {login["role"] for login in info["logins"]} == {"owner", "assistant"}
        assert all(login["api_key"].startswith("cbk_") for login in info["logins"])
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped" in output
    for name, pid in info["pids"].items():
        assert not _group_alive(pid), f"{name} (or a child of it) still running"
    ports = [int(url.rsplit(":", 1)[1]) for url in info["services"].values()]
    assert not [p for p in ports if port_open(p)], "ports still bound"


def test_persist_mode_keeps_firestore_data_across_restarts(tmp_path, stack, monkeypatch):
    """PERSIST=1 make run: Firestore is exported on stop and imported on the next start."""
    from google.cloud import firestore

    from local import stack as stack_module

    monkeypatch.setattr(stack_module, "LOCAL_DIR", tmp_path)
    for var, _ in PORTS.values():
        monkeypatch.setenv(var, str(free_port()))

    def run_once(write: bool) -> dict | None:
        local = stack_module.Stack(persist=True, log_dir=tmp_path / "logs")
        local.data_dir = tmp_path / "firestore-data"
        local.start()
        try:
            monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{local.ports['firestore']}")
            client = firestore.Client(project=stack_module.PROJECT)
            doc = client.collection("persist_check").document(tmp_path.name)
            if write:
                doc.set({"kept": True})
            snap = doc.get()
            return snap.to_dict() if snap.exists else None
        finally:
            local.stop()

    assert run_once(write=True) == {"kept": True}
    assert run_once(write=False) == {"kept": True}
    # Without the export the data is gone: the import above is what kept it.
    for folder in (tmp_path / "firestore-data").iterdir():
        shutil.rmtree(folder)
    assert run_once(write=False) is None
