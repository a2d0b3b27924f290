"""`python -m local.stack` (what `make run` starts) comes up, writes stack.json with every URL
and the demo logins, every URL answers, and Ctrl-C leaves no process and no port behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from local.stack import PORTS, ROOT, free_port, port_open


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; it only waits for its parent to reap it.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


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
        assert not _alive(pid), f"{name} still running"
    ports = [int(url.rsplit(":", 1)[1]) for url in info["services"].values()]
    assert not [p for p in ports if port_open(p)], "ports still bound"
