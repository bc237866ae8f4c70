"""The acceptance harness shared by the modules here: a real Sentry Web 23.7.1
(tests/sentry/setup.sh: Postgres, Redis, our plugins) in front of the real ``sentry-sls serve``
binary. Each module gets its own harness (a fresh store; Postgres is kept across runs).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = Path(os.environ.get("HARNESS_DIR", REPO_ROOT / ".sentry-harness"))
SETUP = REPO_ROOT / "tests" / "sentry" / "setup.sh"


def binary() -> Path:
    if os.environ.get("SENTRY_SLS_BIN"):
        return Path(os.environ["SENTRY_SLS_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "sentry-sls-target")
    return Path(target) / "debug" / "sentry-sls"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


def stop_web() -> None:
    pid_file = HARNESS_DIR / "web.pid"
    if pid_file.exists():
        try:
            os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pid_file.unlink()


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.snuba_port, self.ingest_port, self.web_port = free_port(), free_port(), free_port()
        self.snuba = f"http://127.0.0.1:{self.snuba_port}"
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.log = open(tmp / "serve.log", "wb")
        self.serve = subprocess.Popen(
            [str(binary()), "serve", "--data-dir", str(tmp / "data"),
             "--snuba-listen", f"127.0.0.1:{self.snuba_port}",
             "--ingest-listen", f"127.0.0.1:{self.ingest_port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("SLS_")}, "SENTRY_SLS_LOG": "warn"},
        )  # fmt: skip
        wait_http(f"{self.snuba}/health", 60)
        stop_web()  # a web process of an earlier run points at another port
        setup = subprocess.run(
            ["bash", str(SETUP)],
            env={**os.environ, "HARNESS_DIR": str(HARNESS_DIR), "SNUBA_URL": self.snuba,
                 "SENTRY_PORT": str(self.web_port)},
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if setup.returncode != 0:
            raise RuntimeError(f"setup.sh failed:\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}")
        lines = setup.stdout.splitlines()
        self.token = next(line.split()[1] for line in lines if line.startswith("TOKEN "))
        _, self.org, self.project, project_id = next(line for line in lines if line.startswith("PROJECT ")).split()
        self.project_id = int(project_id)
        wait_http(f"{self.web}/_health/", 60)

    def api(self, path: str) -> requests.Response:
        return requests.get(f"{self.web}/api/0/{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def sentry_exec(self, script: str) -> str:
        result = subprocess.run(
            [str(HARNESS_DIR / "venv" / "bin" / "sentry"), "exec", "-c", script],
            env={**os.environ, "SENTRY_CONF": str(HARNESS_DIR / "conf"), "SNUBA": self.snuba,
                 "SENTRY_PORT": str(self.web_port)},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def close(self) -> None:
        stop_web()
        self.serve.send_signal(signal.SIGTERM)
        try:
            self.serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.serve.kill()
        self.log.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    pythons = list((Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions").glob("3.8.*/bin/python"))
    if not pythons and not os.environ.get("PY38"):
        pytest.skip("no CPython 3.8 (pyenv) for Sentry 23.7.1")
    if not binary().is_file():
        pytest.skip(f"sentry-sls binary not built: {binary()}")
    running = Harness(tmp_path_factory.mktemp("acceptance"))
    yield running
    running.close()
