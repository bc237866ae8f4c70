"""The real `sentry-sdk` sends to `sentry-sls serve`'s ingest listener; the events travel through the
durable spool and the SLS client into `sentry-sls sls-local`, and are read back there with the
official SLS Python SDK. This is the production path (SLS_ENDPOINT set) end to end on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import sentry_sdk
from aliyun.log import LogClient

from conftest import sentry_sls_binary, stored_body

KEY_ID = "ingest-test-key"
KEY_SECRET = "ingest-test-secret"
PROJECT = "ingest-project"
LOGSTORE = "logstore-rum"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            assert process.poll() is None, f"process exited: {process.args}"
            assert time.monotonic() < deadline, f"{url} did not come up"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    binary = str(sentry_sls_binary())
    sls_port, ingest_port, snuba_port = _port(), _port(), _port()
    base_env = {"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn"}
    sls_env = {**base_env, "SLS_ACCESS_KEY_ID": KEY_ID, "SLS_ACCESS_KEY_SECRET": KEY_SECRET}
    sls_local = subprocess.Popen(
        [binary, "sls-local", "--listen", f"127.0.0.1:{sls_port}", "--project", PROJECT,
         "--data-dir", str(tmp_path_factory.mktemp("sls"))],
        env=sls_env,
    )
    _wait(f"http://127.0.0.1:{sls_port}/metrics", sls_local)
    client_env = {
        **sls_env,
        "SLS_ENDPOINT": f"http://127.0.0.1:{sls_port}",
        "SLS_PROJECT": PROJECT,
        "SLS_LOGSTORE": LOGSTORE,
    }
    subprocess.run([binary, "setup"], env=client_env, check=True)
    serve = subprocess.Popen(
        [binary, "serve", "--snuba-listen", f"127.0.0.1:{snuba_port}", "--ingest-listen", f"127.0.0.1:{ingest_port}",
         "--data-dir", str(tmp_path_factory.mktemp("serve"))],
        env=client_env,
    )
    _wait(f"http://127.0.0.1:{ingest_port}/health", serve)
    client = LogClient(f"127.0.0.1:{sls_port}", KEY_ID, KEY_SECRET)
    client._isRowIp = True  # noqa: SLF001 - raw-IP mode, sls-protocol.md §6.3
    yield {"ingest_port": ingest_port, "sls": client}
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=20)
    sls_local.terminate()
    sls_local.wait(timeout=20)


def _group_id(project_id: int, primary_hash: str) -> int:
    digest = hashlib.md5(f"{project_id}:{primary_hash}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") & ((1 << 52) - 1)) + (1 << 52)


def _records(client: LogClient, event_ids: set[str]) -> dict[str, dict[str, str]]:
    """Polls sls-local until every event id has a record (the spool ships asynchronously)."""
    now = int(time.time())
    deadline = time.monotonic() + 30
    while True:
        response = client.get_log(PROJECT, LOGSTORE, now - 3600, now + 600, query="*", size=100)
        found = {}
        for log in response.get_logs():
            contents = dict(log.get_contents())
            found[contents.get("event_id")] = contents
        if event_ids <= set(found):
            # Only the asked-for events: a transaction shipped in the same round has no group.
            return {event_id: found[event_id] for event_id in event_ids}
        assert time.monotonic() < deadline, f"missing records: {event_ids - set(found)}"
        time.sleep(0.2)


def test_sentry_sdk_events_reach_the_store(stack):
    sentry_sdk.init(
        dsn=f"http://publickey@127.0.0.1:{stack['ingest_port']}/42",
        traces_sample_rate=1.0,
        environment="e2e",
        release="app@1.2.3",
    )
    sentry_sdk.set_user({"id": "user-7", "email": "u7@example.com"})
    sentry_sdk.set_tag("feature", "checkout")
    sentry_sdk.add_breadcrumb(message="clicked pay", category="ui")
    message_id = sentry_sdk.capture_message("payment declined for order 1234", level="warning")
    def charge(card: str) -> None:
        raise ValueError(f"card number {card} invalid")

    exception_ids = []
    for card in ("4111", "5500"):  # same code path, different values: one group
        try:
            charge(card)
        except ValueError:
            exception_ids.append(sentry_sdk.capture_exception())
    try:
        {}["missing"]
    except KeyError:
        other_id = sentry_sdk.capture_exception()
    exception_id = exception_ids[0]
    with sentry_sdk.start_transaction(name="POST /checkout", op="http.server"):
        time.sleep(0.01)
    sentry_sdk.flush(timeout=10)

    records = _records(stack["sls"], {message_id, *exception_ids, other_id})
    message = records[message_id]
    assert message["project_id"] == "42"
    assert message["level"] == "warning"
    assert message["type"] == "default"
    assert message["message"] == "payment declined for order 1234"
    assert message["environment"] == "e2e"
    assert message["release"] == "app@1.2.3"
    assert message["user_id"] == "user-7"
    assert json.loads(message["tags"])["feature"] == "checkout"
    assert message["__topic__"] == "sentry_error"
    body = json.loads(stored_body(message))
    assert body["event_id"] == message_id
    assert body["breadcrumbs"]["values"][0]["message"] == "clicked pay"

    exception = records[exception_id]
    assert exception["type"] == "error"
    assert exception["level"] == "error"
    body = json.loads(stored_body(exception))
    assert body["exception"]["values"][0]["value"] == "card number 4111 invalid"
    assert exception["title"] == "ValueError: card number 4111 invalid"
    assert exception["culprit"] == body["culprit"] and "charge" in exception["culprit"]
    assert body["hashes"][0] == exception["primary_hash"]
    assert json.loads(exception["exception_stacks_type"]) == ["ValueError"]
    assert exception["unhandled"] == "0"
    # Grouping: the same code path is one issue, another exception is another; the group id is
    # derived as DESIGN.md says, recomputed here.
    for record in records.values():
        assert record["group_id"] == str(_group_id(int(record["project_id"]), record["primary_hash"]))
    assert records[exception_ids[1]]["group_id"] == exception["group_id"]
    assert records[other_id]["group_id"] != exception["group_id"]
    assert records[message_id]["group_id"] not in {exception["group_id"], records[other_id]["group_id"]}

    # The transaction is stored under its own topic.
    now = int(time.time())
    deadline = time.monotonic() + 30
    while True:
        response = stack["sls"].get_log(PROJECT, LOGSTORE, now - 3600, now + 600, query="__topic__: sentry_transaction", size=10)
        transactions = [dict(log.get_contents()) for log in response.get_logs()]
        if transactions:
            break
        assert time.monotonic() < deadline, "the transaction never arrived"
        time.sleep(0.2)
    assert transactions[0]["transaction_name"] == "POST /checkout"


NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_sentry_node_events_reach_the_store(stack):
    """The real @sentry/node SDK (npm) sends an exception, a message and a transaction."""
    assert (NODE_DIR / "node_modules" / "@sentry" / "node").is_dir(), (
        "run `npm ci` in tests/node (scripts/test.sh does)"
    )
    sent = subprocess.run(
        ["node", "send.mjs", f"http://publickey@127.0.0.1:{stack['ingest_port']}/43"],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=60, check=True,
    )
    ids = json.loads(sent.stdout.strip().splitlines()[-1])
    records = _records(stack["sls"], {ids["exception_id"], ids["message_id"]})

    exception = records[ids["exception_id"]]
    assert exception["project_id"] == "43"
    assert exception["platform"] == "node"
    assert exception["type"] == "error"
    assert exception["environment"] == "node-e2e"
    assert exception["release"] == "node-app@2.0.1"
    assert exception["user_id"] == "node-user-3"
    assert json.loads(exception["tags"])["job"] == "invoices"
    assert exception["sdk_name"] == "sentry.javascript.node"
    body = json.loads(stored_body(exception))
    value = body["exception"]["values"][-1]
    assert value["type"] == "TypeError"
    assert "toFixed" in value["value"]
    functions = [frame.get("function") for frame in value["stacktrace"]["frames"]]
    assert "parseInvoice" in functions
    assert any(crumb.get("message") == "loading invoices" for crumb in body["breadcrumbs"]["values"])
    assert exception["title"] == f"TypeError: {value['value']}"
    assert body["hashes"][0] == exception["primary_hash"]
    assert exception["group_id"] == str(_group_id(43, exception["primary_hash"]))
    assert body["metadata"]["type"] == "TypeError"

    message = records[ids["message_id"]]
    assert message["level"] == "warning"
    # @sentry/node attaches the message's stack as a synthetic exception: Sentry types it
    # `error`, keeps the synthetic type out of the metadata and titles it by the crash function.
    message_body = json.loads(stored_body(message))
    assert message_body["logentry"]["formatted"] == "invoice 981 could not be mailed"
    assert message["message"].startswith("invoice 981 could not be mailed")
    if message_body.get("exception"):
        assert message["type"] == "error"
        assert message_body["exception"]["values"][-1]["mechanism"]["synthetic"] is True
        assert "type" not in message_body["metadata"]
        assert message["title"] == message_body["metadata"]["function"]
    else:
        assert message["type"] == "default"
        assert message["title"] == "invoice 981 could not be mailed"

    # @sentry/node 11 streams spans (`span` items, span v2) instead of transaction events: they
    # are accepted and counted, not stored (the issue pages read errors only).
    metrics = requests.get(f"http://127.0.0.1:{stack['ingest_port']}/metrics", timeout=10).text
    spans = [line for line in metrics.splitlines() if line.startswith('ingest_items_total{type="span"}')]
    assert spans and float(spans[0].split()[-1]) >= 1, metrics
    # Where a request's time goes: the server's handling, and the spool's write and fsync.
    for name in ["ingest_request_seconds_count", "ingest_spool_commit_seconds_count"]:
        counts = [line for line in metrics.splitlines() if line.startswith(name)]
        assert counts and float(counts[0].split()[-1]) >= 1, (name, metrics)


def test_malformed_requests_get_relay_status_codes(stack):
    url = f"http://127.0.0.1:{stack['ingest_port']}/api/42/envelope/"
    auth = {"X-Sentry-Auth": "Sentry sentry_key=publickey, sentry_version=7"}
    cases = [
        (b"", {}, 400),
        (b"not json\n", {}, 400),
        (b'{}\n{"type":"event","length":100}\n{"short":1}\n', {}, 400),
        (b'{}\n{"type":"event"}\n[1,2,3]\n', {}, 400),
        (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, 400),
        (b'{}\n{"type":"event"}\n{}\n', {"Content-Encoding": "snappy"}, 400),
        (b'{}\n{"type":"event"}\n{"message":"' + b"x" * (2 * 1024 * 1024) + b'"}\n', {}, 413),
    ]
    for body, headers, expected in cases:
        response = requests.post(url, data=body, headers={**auth, **headers}, timeout=10)
        assert response.status_code == expected, (body[:60], response.status_code, response.text)
        assert "detail" in response.json()
    bad_auth = requests.post(url, data=b'{}\n{"type":"event"}\n{}\n', headers={"X-Sentry-Auth": "Bearer nope"}, timeout=10)
    assert bad_auth.status_code == 401
    preflight = requests.options(url, headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    # Still serving.
    ok = requests.post(url, data=b'{}\n{"type":"event"}\n{"message":"still here"}\n', headers=auth, timeout=10)
    assert ok.status_code == 200 and len(ok.json()["id"]) == 32


def test_a_repeated_event_is_acknowledged_and_stored_once(stack):
    url = f"http://127.0.0.1:{stack['ingest_port']}/api/42/envelope/"
    auth = {"X-Sentry-Auth": "Sentry sentry_key=publickey, sentry_version=7"}
    event_id = "5f0e1d2c3b4a59687766554433221100"
    body = (
        json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n"
        + json.dumps({"message": "sent twice by a retrying SDK"}) + "\n"
    ).encode()
    for _ in range(3):
        response = requests.post(url, data=body, headers=auth, timeout=10)
        assert response.status_code == 200 and response.json()["id"] == event_id
    _records(stack["sls"], {event_id})
    # Give a wrongly stored repeat time to be shipped too, then count.
    time.sleep(1.5)
    now = int(time.time())
    response = stack["sls"].get_log(PROJECT, LOGSTORE, now - 3600, now + 600, query=f"event_id: {event_id}", size=10)
    assert len(response.get_logs()) == 1
