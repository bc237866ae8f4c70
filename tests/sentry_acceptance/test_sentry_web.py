"""Acceptance: a real Sentry Web 23.7.1 (tests/sentry/setup.sh: Postgres, Redis, our plugins)
in front of the real ``sentry-sls serve`` binary, with an event sent by sentry-sdk to our ingest.

Slow on first run (Sentry venv and migrations: several minutes), then idempotent. Run with the
project venv: ``.venv/bin/pytest tests/sentry_acceptance`` (SENTRY_SLS_BIN names the binary;
default ``$CARGO_TARGET_DIR/debug/sentry-sls``). Skipped without CPython 3.8 (pyenv) or the binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
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


@pytest.fixture(scope="module")
def sent_event(harness):
    """One error event sent with sentry-sdk to our ingest; waits until the store has it."""
    import sentry_sdk

    event_id_holder = {}
    client = sentry_sdk.Client(
        f"http://{uuid.uuid4().hex}@127.0.0.1:{harness.ingest_port}/{harness.project_id}",
        default_integrations=False, environment="acceptance", release="app@1.0",
    )  # fmt: skip
    hub = sentry_sdk.Hub(client)
    message = f"acceptance boom {uuid.uuid4().hex[:8]}"
    try:
        raise ValueError(message)
    except ValueError:
        event_id_holder["id"] = hub.capture_exception()
    client.flush(timeout=10)
    event_id = event_id_holder["id"]
    node_id = hashlib.md5(f"{harness.project_id}:{event_id}".encode()).hexdigest()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if requests.get(f"{harness.snuba}/v1/nodes/{node_id}", timeout=5).status_code == 200:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the event never reached the store")
    return {"event_id": event_id, "node_id": node_id, "message": message}


def test_the_api_answers(harness):
    response = harness.api("")
    assert response.status_code == 200, response.text[:500]
    assert harness.api(f"projects/{harness.org}/{harness.project}/").status_code == 200


def test_sentrys_configured_nodestore_reads_the_event_from_the_log_store(harness, sent_event):
    script = (
        "from sentry import nodestore\n"
        "import json\n"
        f"data = nodestore.backend.get({sent_event['node_id']!r})\n"
        "print('NODE', json.dumps({'event_id': data['event_id'], 'title': data.get('title'),"
        " 'type': type(nodestore.backend._wrapped).__name__}))\n"
    )
    line = next(line for line in harness.sentry_exec(script).splitlines() if line.startswith("NODE "))
    node = json.loads(line[5:])
    assert node["event_id"] == sent_event["event_id"]
    assert node["type"] == "SLSNodeStorage"
    assert sent_event["message"] in node["title"]


def test_the_search_backend_materialises_the_group(harness, sent_event):
    # The Issues list runs SENTRY_SEARCH, which syncs the project's groups into Postgres first.
    response = harness.api(f"organizations/{harness.org}/issues/?query=&statsPeriod=14d")
    assert response.status_code == 200, response.text[:500]
    script = (
        "from sentry.models import Group, GroupHash, GroupEnvironment\n"
        f"groups = Group.objects.filter(project_id={harness.project_id}, message__contains={sent_event['message']!r})\n"
        "for g in groups:\n"
        "    print('GROUP', g.id, g.times_seen, g.data.get('title'), GroupHash.objects.filter(group_id=g.id).count(),"
        " GroupEnvironment.objects.filter(group_id=g.id).count())\n"
    )
    lines = [line.split(" ", 5) for line in harness.sentry_exec(script).splitlines() if line.startswith("GROUP ")]
    assert len(lines) == 1, lines
    _, group_id, times_seen, *_ = lines[0]
    assert int(group_id) >= 1 << 52 and int(times_seen) == 1
    details = harness.api(f"issues/{group_id}/")
    assert details.status_code == 200, details.text[:500]
    assert sent_event["message"] in details.json()["title"]
    # Sentry's own search, over our Snuba API, now lists it.
    listed = harness.api(f"organizations/{harness.org}/issues/?query=&statsPeriod=14d")
    assert group_id in [issue["id"] for issue in listed.json()], listed.text[:1000]


def test_the_one_shot_sync_command(harness, sent_event):
    script = f"from sentry_search_sls.sync import main\nmain(['--project', '{harness.project_id}'])\n"
    assert f"project {harness.project_id}: 1 group(s) synced" in harness.sentry_exec(script)


def test_the_event_json_comes_through_sentrys_api(harness, sent_event):
    # Sentry reads the body from our nodestore and the event's row from our Snuba API.
    response = harness.api(f"projects/{harness.org}/{harness.project}/events/{sent_event['event_id']}/json/")
    assert response.status_code == 200, response.text[:300]
    assert response.json()["event_id"] == sent_event["event_id"]


def test_issue_pages_answer_from_the_log_store(harness, sent_event):
    token = sent_event["message"].split()[-1]  # a hex word only this event's message has
    listed = harness.api(f"organizations/{harness.org}/issues/?query={token}&statsPeriod=14d")
    assert listed.status_code == 200, listed.text[:500]
    issues = listed.json()
    assert len(issues) == 1, issues
    group_id = issues[0]["id"]
    assert issues[0]["count"] == "1"
    for sort in ("date", "freq", "new", "user"):
        response = harness.api(f"organizations/{harness.org}/issues/?query=&sort={sort}&statsPeriod=14d")
        assert group_id in [issue["id"] for issue in response.json()], sort
    for query, present in (("environment:acceptance", True), ("environment:elsewhere", False)):
        response = harness.api(f"organizations/{harness.org}/issues/?query={query}&statsPeriod=14d")
        assert (group_id in [issue["id"] for issue in response.json()]) == present, query
    for which in ("latest", "oldest"):
        event = harness.api(f"issues/{group_id}/events/{which}/")
        assert event.status_code == 200, event.text[:300]
        assert event.json()["eventID"] == sent_event["event_id"]
    events = harness.api(f"issues/{group_id}/events/").json()
    assert [event["eventID"] for event in events] == [sent_event["event_id"]]
    values = harness.api(f"issues/{group_id}/tags/environment/values/").json()
    assert [(value["value"], value["count"]) for value in values] == [("acceptance", 1)]


def test_an_outage_of_sentry_sls_is_an_error_not_a_crash(harness, sent_event):
    # Last in this module: it stops the service.
    harness.serve.send_signal(signal.SIGTERM)
    harness.serve.wait(timeout=30)
    started = time.monotonic()
    response = harness.api(f"projects/{harness.org}/{harness.project}/events/{sent_event['event_id']}/json/")
    assert response.status_code >= 500, response.text[:300]
    assert time.monotonic() - started < 30, "timeouts bound the request"
    # The web process lives on.
    assert requests.get(f"{harness.web}/_health/", timeout=10).status_code == 200
    assert harness.api("").status_code == 200
