"""The acceptance harness shared by the modules here: a real Sentry Web 23.7.1
(tests/sentry/setup.sh: Postgres, Redis, our plugins) in front of the real ``sentry-sls serve``
binary. Each module gets its own harness (a fresh store; Postgres is kept across runs).

Two stores behind ``serve`` (``BACKENDS``): ``embedded`` (``serve --data-dir``) and ``sls-local``
(``sentry-sls sls-local`` on a free port with an AccessKey, ``sentry-sls setup`` and ``serve``
with the ``SLS_*`` environment: the SLS protocol path). The ``harness`` fixture is the embedded
one; a module that wants both parametrizes its own fixture over ``BACKENDS`` with
``start_harness``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = Path(os.environ.get("HARNESS_DIR", REPO_ROOT / ".sentry-harness"))
SETUP = REPO_ROOT / "tests" / "sentry" / "setup.sh"
BACKENDS = ("embedded", "sls-local")
SLS_KEY_ID, SLS_KEY_SECRET = "acceptance-key", "acceptance-secret"
SLS_PROJECT, SLS_LOGSTORE = "acceptance", "logstore-rum"


def binary() -> Path:
    if os.environ.get("SENTRY_SLS_BIN"):
        return Path(os.environ["SENTRY_SLS_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "sentry-sls-target")
    return Path(target) / "debug" / "sentry-sls"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float, any_status: bool = False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            if any_status:
                return
            time.sleep(0.3)
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


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Harness:
    """``serve`` (on ``backend``'s store; ``serve_args`` added to its command line), then Sentry
    Web pointed at it. ``snuba`` and ``web`` are base URLs; ``tmp`` holds serve.log (and
    sls-local.log)."""

    def __init__(self, tmp: Path, backend: str = "embedded", serve_args: tuple[str, ...] = ()) -> None:
        assert backend in BACKENDS, backend
        self.tmp, self.backend, self.processes = tmp, backend, []
        self.snuba_port, self.ingest_port, self.web_port = free_port(), free_port(), free_port()
        self.snuba = f"http://127.0.0.1:{self.snuba_port}"
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.log = open(tmp / "serve.log", "wb")
        try:
            self._start(tmp, serve_args)
        except BaseException:
            self.close()
            raise

    def _start(self, tmp: Path, serve_args: tuple[str, ...]) -> None:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLS_")}, "SENTRY_SLS_LOG": "warn"}
        if self.backend == "sls-local":
            port = free_port()
            keys = {"SLS_ACCESS_KEY_ID": SLS_KEY_ID, "SLS_ACCESS_KEY_SECRET": SLS_KEY_SECRET}
            self.sls_log = open(tmp / "sls-local.log", "wb")
            self.processes.append(subprocess.Popen(
                [str(binary()), "sls-local", "--listen", f"127.0.0.1:{port}", "--project", SLS_PROJECT,
                 "--data-dir", str(tmp / "sls-data")],
                stdout=self.sls_log, stderr=subprocess.STDOUT, env={**env, **keys},
            ))  # fmt: skip
            wait_http(f"http://127.0.0.1:{port}/metrics", 60, any_status=True)
            env.update(keys, SLS_ENDPOINT=f"http://127.0.0.1:{port}", SLS_PROJECT=SLS_PROJECT,
                       SLS_LOGSTORE=SLS_LOGSTORE)  # fmt: skip
            setup = subprocess.run([str(binary()), "setup"], env=env, capture_output=True, text=True, timeout=120)
            assert setup.returncode == 0, f"sentry-sls setup failed:\n{setup.stdout}\n{setup.stderr}"
        self.serve = subprocess.Popen(
            [str(binary()), "serve", "--data-dir", str(tmp / "data"),
             "--snuba-listen", f"127.0.0.1:{self.snuba_port}",
             "--ingest-listen", f"127.0.0.1:{self.ingest_port}", *serve_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self.processes.insert(0, self.serve)
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

    def create_projects(self, slugs: list[str], retire: str = "") -> dict[str, int]:
        """Projects of the harness's organization, each with a ProjectTeam row for the org's first
        team (as Sentry's own project creation makes); existing ones are kept. Returns their ids.
        First retires (``retire_projects``) every other active project whose slug fully matches
        the regex ``retire``: what an interrupted earlier run left."""
        out = self.sentry_exec(
            "import re\n"
            "from sentry.constants import ObjectStatus\n"
            "from sentry.models import Organization, Project, ProjectTeam, Team\n"
            f"org = Organization.objects.get(slug={self.org!r})\n"
            "team = Team.objects.filter(organization=org).order_by('id').first()\n"
            f"slugs, retire = {list(slugs)!r}, {retire!r}\n"
            "for project in Project.objects.filter(organization=org, status=ObjectStatus.ACTIVE):\n"
            "    if retire and re.fullmatch(retire, project.slug) and project.slug not in slugs:\n"
            "        Project.objects.filter(id=project.id).update(status=ObjectStatus.PENDING_DELETION)\n"
            "for slug in slugs:\n"
            "    project = Project.objects.filter(organization=org, slug=slug).first() or Project.objects.create(\n"
            "        organization=org, name=slug, slug=slug, platform='python')\n"
            "    ProjectTeam.objects.get_or_create(project=project, team=team)\n"
            "    print('PROJECT', project.slug, project.id)\n"
        )  # fmt: skip
        ids = {line.split()[1]: int(line.split()[2]) for line in out.splitlines() if line.startswith("PROJECT ")}
        assert sorted(ids) == sorted(slugs), out
        return ids

    def retire_projects(self, slugs: list[str]) -> None:
        """Marks the projects pending deletion, as Sentry's project deletion does first: they leave
        every listing, so the organization is back to the single project the other modules query
        without ``project=`` (more than one needs the multi-project feature: a 400)."""
        self.sentry_exec(
            "from sentry.constants import ObjectStatus\n"
            "from sentry.models import Project\n"
            f"Project.objects.filter(organization__slug={self.org!r}, slug__in={list(slugs)!r})"
            ".update(status=ObjectStatus.PENDING_DELETION)\n"
        )

    def close(self) -> None:
        stop_web()
        for process in self.processes:
            stop(process)
        self.log.close()
        if getattr(self, "sls_log", None):
            self.sls_log.close()


def start_harness(tmp_path_factory, backend: str = "embedded", serve_args: tuple[str, ...] = ()) -> Harness:
    """A running harness on ``backend``'s store (skips without CPython 3.8 or the binary; waits a
    little for a binary being rebuilt)."""
    pythons = list((Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions").glob("3.8.*/bin/python"))
    if not pythons and not os.environ.get("PY38"):
        pytest.skip("no CPython 3.8 (pyenv) for Sentry 23.7.1")
    deadline = time.monotonic() + 120
    while not binary().is_file() and time.monotonic() < deadline and os.environ.get("SENTRY_SLS_BIN"):
        time.sleep(2)
    if not binary().is_file():
        pytest.skip(f"sentry-sls binary not built: {binary()}")
    return Harness(tmp_path_factory.mktemp(f"acceptance-{backend}"), backend, serve_args)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    running = start_harness(tmp_path_factory)
    yield running
    running.close()
