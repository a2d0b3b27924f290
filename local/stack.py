"""The local stack: every service calbridge uses, each a real process on 127.0.0.1.

`make run` runs `python -m local.stack`; the pytest session fixture (tests/conftest.py) uses the
same `Stack` with free ports. Every port can be overridden by environment (see PORTS). Each
child runs in its own process group so that stopping kills the whole tree (gcloud starts a Java
child; functions-framework may fork), and nothing is left bound after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets as pysecrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Runtime files (stack.json, logs, secrets, demo logins, persisted data); overridable so a test
# can run a second stack beside a developer's.
LOCAL_DIR = Path(os.environ.get("CALBRIDGE_LOCAL_DIR") or ROOT / ".local")
VENV_PY = ROOT / ".venv" / "bin" / "python"
TASKS_VENV = ROOT / ".local" / "tasks-venv"

PROJECT = "calbridge-local"
LOCATION = "europe-west3"
QUEUES = ("email", "sync")
FUNCTIONS = ("oauth", "booking", "webhook", "notify")

# service -> (environment variable overriding the port, default port)
PORTS = {
    "firestore": ("FIRESTORE_PORT", 8681),
    "tasks": ("TASKS_PORT", 8682),
    "google_sandbox": ("SANDBOX_PORT", 8690),
    "mail_sink": ("MAIL_SINK_PORT", 8691),
    "oauth": ("OAUTH_PORT", 8701),
    "booking": ("BOOKING_PORT", 8702),
    "webhook": ("WEBHOOK_PORT", 8703),
    "notify": ("NOTIFY_PORT", 8704),
}

SANDBOX_CLIENT_ID = "calbridge-local.apps.googleusercontent.com"
SANDBOX_CLIENT_SECRET = "calbridge-local-secret"
MAIL_SINK_KEY = "SG.local-sandbox-key"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768+). Port 0 would hand out an
    ephemeral port, which an outgoing connection of any process may take before our service
    binds it; below that range only listeners compete."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise StackError("no free port between 20000 and 32000")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def resolve_ports(random_ports: bool = False) -> dict[str, int]:
    ports = {}
    for name, (var, default) in PORTS.items():
        if os.environ.get(var):
            ports[name] = int(os.environ[var])
        else:
            ports[name] = free_port() if random_ports else default
    return ports


def local_secrets(path: Path) -> dict[str, str]:
    """Secrets of the local stack: fixed ones the sandbox and sink expect, random keys kept."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    values = {
        "oauth-client-secret": SANDBOX_CLIENT_SECRET,
        "sendgrid-api-key": MAIL_SINK_KEY,
        "token-encryption-key": existing.get("token-encryption-key")
        or pysecrets.token_urlsafe(32),
        "signing-key": existing.get("signing-key") or pysecrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def base_urls(ports: dict[str, int]) -> dict[str, str]:
    return {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}


def product_env(ports: dict[str, int], secrets_file: Path) -> dict[str, str]:
    """The environment the functions (and in-process test code) run with in the local stack."""
    urls = base_urls(ports)
    sandbox = urls["google_sandbox"]
    return {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports['firestore']}",
        "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{ports['tasks']}",
        "TASKS_LOCATION": LOCATION,
        "OAUTH_URL": urls["oauth"],
        "BOOKING_URL": urls["booking"],
        "WEBHOOK_URL": urls["webhook"],
        "NOTIFY_URL": urls["notify"],
        "GOOGLE_AUTH_URI": f"{sandbox}/o/oauth2/v2/auth",
        "GOOGLE_TOKEN_URI": f"{sandbox}/token",
        "GOOGLE_REVOKE_URI": f"{sandbox}/revoke",
        "GOOGLE_CERTS_URI": f"{sandbox}/oauth2/v1/certs",
        "GOOGLE_CALENDAR_ENDPOINT": f"{sandbox}/calendar/v3/",
        "GOOGLE_OAUTH_CLIENT_ID": SANDBOX_CLIENT_ID,
        "SENDGRID_HOST": urls["mail_sink"],
        "SECRETS_BACKEND": "env",
        "SECRETS_FILE": str(secrets_file),
        # The sandbox speaks plain http on loopback; oauthlib refuses http unless told.
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int
    health_path: str | None = "/"
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None


class Stack:
    def __init__(self, *, random_ports: bool = False, persist: bool = False,
                 log_dir: Path | None = None):
        self.ports = resolve_ports(random_ports)
        self.persist = persist
        self.log_dir = log_dir or LOCAL_DIR / "logs"
        self.secrets_file = LOCAL_DIR / "secrets.json"
        self.data_dir = LOCAL_DIR / "firestore-data"
        self.services: list[Service] = []
        self.urls = base_urls(self.ports)

    def env(self) -> dict[str, str]:
        return product_env(self.ports, self.secrets_file)

    def _plan(self) -> list[Service]:
        ports = self.ports
        fs = [
            "gcloud", "emulators", "firestore", "start", "--quiet",
            f"--host-port=127.0.0.1:{ports['firestore']}",
        ]
        metadata = self.latest_export()
        if self.persist and metadata:
            fs.append(f"--import-data={metadata}")
        tasks = [
            str(TASKS_VENV / "bin" / "gcloud-tasks-emulator"), "start", "-q",
            "-p", str(ports["tasks"]),
        ]
        for queue in QUEUES:
            tasks += ["-d", f"projects/{PROJECT}/locations/{LOCATION}/queues/{queue}"]
        plan = [
            # C1 only: C2's compile storms in the emulator's JVM cost a short-lived local
            # stack more CPU than its faster code saves (measured: bench/booking.py).
            Service("firestore", fs, ports["firestore"],
                    env={"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1"}),
            Service("tasks", tasks, ports["tasks"], health_path=None),
            Service("google_sandbox", [str(VENV_PY), "-m", "local.google_sandbox",
                                       "--host", "127.0.0.1", "--port", str(ports["google_sandbox"]),
                                       "--client-id", SANDBOX_CLIENT_ID,
                                       "--client-secret", SANDBOX_CLIENT_SECRET],
                    ports["google_sandbox"], "/control/state"),
            Service("mail_sink", [str(VENV_PY), "-m", "local.mail_sink", "--host", "127.0.0.1",
                                  "--port", str(ports["mail_sink"]), "--api-key", MAIL_SINK_KEY],
                    ports["mail_sink"], "/api/stats"),
        ]
        for fn in FUNCTIONS:
            plan.append(Service(
                fn,
                [str(ROOT / ".venv" / "bin" / "functions-framework"), "--target", fn,
                 "--source", str(ROOT / "functions" / fn / "main.py"),
                 "--host", "127.0.0.1", "--port", str(ports[fn])],
                ports[fn],
                "/healthz",
                # In the cloud a function scales out to more instances under load; locally two
                # worker processes (functions-framework's gunicorn) let one function use both
                # cores instead of queueing every request behind one process's GIL.
                env={"WORKERS": os.environ.get("FUNCTION_WORKERS", "2")},
            ))
        return plan

    def start(self, timeout: float = 90) -> None:
        busy = [f"{name}:{port}" for name, port in self.ports.items() if port_open(port)]
        if busy:
            raise StackError(
                f"ports already in use: {', '.join(busy)} (is another stack running? "
                "override with FIRESTORE_PORT, TASKS_PORT, ... )"
            )
        if not TASKS_VENV.exists():
            raise StackError("the Cloud Tasks emulator virtualenv is missing: run `make setup`")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        local_secrets(self.secrets_file)
        env = {**os.environ, **self.env(), "PYTHONPATH": str(ROOT)}
        for service in self._plan():
            log = open(self.log_dir / f"{service.name}.log", "wb")
            service.process = subprocess.Popen(
                service.argv, cwd=ROOT, env={**env, **service.env}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
            self.services.append(service)
        deadline = time.monotonic() + timeout
        for service in self.services:
            self._wait_ready(service, deadline)

    def _wait_ready(self, service: Service, deadline: float) -> None:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise StackError(
                    f"{service.name} exited with {service.process.returncode}; "
                    f"see {self.log_dir / (service.name + '.log')}\n{self.tail(service.name)}"
                )
            if port_open(service.port) and self._healthy(service):
                return
            time.sleep(0.1)
        raise StackError(f"{service.name} did not become ready on port {service.port}\n"
                         f"{self.tail(service.name)}")

    def _healthy(self, service: Service) -> bool:
        if service.health_path is None:
            return True
        try:
            url = f"http://127.0.0.1:{service.port}{service.health_path}"
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status < 500
        except OSError:
            return False

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def latest_export(self) -> Path | None:
        exports = sorted(self.data_dir.glob("*/*.overall_export_metadata"))
        return exports[-1] if exports else None

    def export_firestore(self) -> None:
        """Firestore emulator export (persist mode): the emulator's own REST export endpoint,
        which writes a new firestore_export_<time>/ folder; older ones are removed after it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        previous = [p.parent for p in self.data_dir.glob("*/*.overall_export_metadata")]
        body = json.dumps({
            "database": f"projects/{PROJECT}/databases/(default)",
            "export_directory": str(self.data_dir),
        }).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['firestore']}/emulator/v1/projects/{PROJECT}:export",
            data=body, method="POST", headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60):
            pass
        for folder in previous:
            shutil.rmtree(folder, ignore_errors=True)

    def stop(self) -> None:
        if self.persist and any(s.name == "firestore" and s.process.poll() is None
                                for s in self.services):
            try:
                self.export_firestore()
                print(f"firestore data exported to {self.data_dir}")
            except OSError as exc:
                print(f"firestore export failed: {exc}", file=sys.stderr)
        for service in reversed(self.services):
            _signal_group(service.process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for service in self.services:
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Kill whatever the group still holds (the emulator's Java child outlives gcloud).
            _signal_group(service.process, signal.SIGKILL)
        self.services.clear()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def describe(stack: Stack, logins: list[dict]) -> dict:
    return {
        "services": stack.urls,
        "pages": {
            "sign_in": f"{stack.urls['oauth']}/signin",
            "integrations": f"{stack.urls['oauth']}/integrations",
            "booking_page": f"{stack.urls['booking']}/book/demo/intro-call",
            "google_sandbox": f"{stack.urls['google_sandbox']}/",
            "outbox": f"{stack.urls['mail_sink']}/",
        },
        "logins": logins,
        "pids": {s.name: s.process.pid for s in stack.services},
    }


def print_table(info: dict) -> None:
    rows = [("service", "url")] + list(info["services"].items()) + list(info["pages"].items())
    width = max(len(r[0]) for r in rows)
    for name, url in rows:
        print(f"  {name.ljust(width)}  {url}")
    print()
    for login in info["logins"]:
        print(f"  {login['role']:<9} {login['email']:<28} API key: {login['api_key']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the calbridge local stack")
    parser.add_argument("--persist", action="store_true",
                        default=os.environ.get("PERSIST", "") not in ("", "0"),
                        help="import Firestore data on start and export it on stop (.local/)")
    args = parser.parse_args()
    stack = Stack(persist=args.persist)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # SIGINT explicitly too: a shell starts background jobs with SIGINT ignored, and Python
    # then never turns Ctrl-C into KeyboardInterrupt.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        stack.start()
        os.environ.update(stack.env())
        from local.seed import seed_demo

        logins = seed_demo(LOCAL_DIR)
        info = describe(stack, logins)
        (LOCAL_DIR / "stack.json").write_text(json.dumps(info, indent=2))
        print(f"calbridge local stack up in {time.monotonic() - started:.1f}s "
              f"(.local/stack.json); Ctrl-C stops everything")
        print_table(info)
        while True:
            for service in stack.services:
                if service.process.poll() is not None:
                    raise StackError(f"{service.name} stopped unexpectedly:\n"
                                     f"{stack.tail(service.name)}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        sys.exit(1)
    stack.stop()
    print("stopped; no process left running")


if __name__ == "__main__":
    main()
