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
import subprocess
import time
import uuid

import pytest
import requests
from conftest import HARNESS_DIR


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


def send_message(harness, message: str) -> str:
    """One message event sent with sentry-sdk; returns its id once the store has it."""
    import sentry_sdk

    client = sentry_sdk.Client(f"http://{uuid.uuid4().hex}@127.0.0.1:{harness.ingest_port}/{harness.project_id}",
                               default_integrations=False, environment="acceptance")  # fmt: skip
    event_id = client.capture_event({"message": message, "level": "error"})
    client.flush(timeout=10)
    node_id = hashlib.md5(f"{harness.project_id}:{event_id}".encode()).hexdigest()
    deadline = time.monotonic() + 60
    while requests.get(f"{harness.snuba}/v1/nodes/{node_id}", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the event never reached the store"
        time.sleep(0.3)
    return event_id


def postgres(sql: str) -> str:
    """Sentry's database, read directly (not through Sentry, whose searches sync too)."""
    database = os.environ.get("SENTRY_DB", "sentry")
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "sentry", "-d", database, "-tAc", sql],
                            env={**os.environ, "PGPASSWORD": "sentry"}, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_periodic_sync_keeps_postgres_in_step_until_stopped(harness, tmp_path):
    message = f"periodic sync {uuid.uuid4().hex[:8]}"

    def times_seen() -> str:
        return postgres(f"select times_seen from sentry_groupedmessage where message = '{message}'")

    def wait_times_seen(count: int) -> None:
        deadline = time.monotonic() + 60
        while times_seen() != str(count):
            assert sync.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (times_seen(), log.read_text()[-3000:])
            time.sleep(0.5)

    log = tmp_path / "sync.log"
    with open(log, "wb") as output:
        sync = subprocess.Popen(
            [str(HARNESS_DIR / "venv" / "bin" / "python"), "-m", "sentry_search_sls.sync",
             "--interval", "1", "--project", str(harness.project_id)],
            env={**os.environ, "SENTRY_CONF": str(HARNESS_DIR / "conf"), "SNUBA": harness.snuba,
                 "SENTRY_PORT": str(harness.web_port)},
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "group(s) synced" not in log.read_text():  # its first round
            assert sync.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        # Events sent while it runs reach Postgres in later rounds, without any page being opened.
        send_message(harness, message)
        wait_times_seen(1)
        send_message(harness, message)
        send_message(harness, message)
        wait_times_seen(3)
        assert postgres(f"select count(*) from sentry_groupedmessage where message = '{message}'") == "1"
    finally:
        sync.send_signal(signal.SIGTERM)
        code = sync.wait(timeout=30)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert output.rstrip().endswith("stopped"), output[-3000:]
    rounds = [line for line in output.splitlines() if line.startswith(f"project {harness.project_id}: ")]
    assert len(rounds) >= 3 and all(line.endswith("group(s) synced") for line in rounds), output[-3000:]


def test_a_record_that_reaches_the_store_late_is_synced_by_the_next_full_sync(harness):
    # A record's `received` is when ingest accepted it; after an SLS outage the spool delivers it
    # later than the incremental syncs' lag (5 min) covers. Stand-in for that outage: the previous
    # sync of this process "ran" well after the event was received.
    message = f"late arrival {uuid.uuid4().hex[:8]}"
    send_message(harness, message)
    script = (
        "import time\n"
        "from sentry.models import Group, Project\n"
        "from sentry_search_sls import sync\n"
        f"project = Project.objects.get(id={harness.project_id})\n"
        "now = int(time.time())\n"
        "sync._last_until[project.id] = now + sync.LAG_SECONDS + 60\n"
        "sync._last_full[project.id] = now\n"
        "sync.sync_project(project, full_every=3600)\n"
        f"print('INCREMENTAL', Group.objects.filter(project=project, message={message!r}).count())\n"
        "sync._last_full[project.id] = now - 3600\n"
        "sync.sync_project(project, full_every=3600)\n"
        f"print('FULL', Group.objects.filter(project=project, message={message!r}).count())\n"
    )
    output = harness.sentry_exec(script)
    assert "INCREMENTAL 0" in output and "FULL 1" in output, output[-2000:]


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
