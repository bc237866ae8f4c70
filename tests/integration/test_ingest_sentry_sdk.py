"""The real `sentry-sdk` sends to `sentry-sls serve`'s ingest listener; the events travel through the
durable spool and the SLS client into `sentry-sls sls-local`, and are read back there with the
official SLS Python SDK. This is the production path (SLS_ENDPOINT set) end to end on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests
import sentry_sdk
from aliyun.log import LogClient

from conftest import sentry_sls_binary

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
            return found
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
    try:
        raise ValueError("card number invalid")
    except ValueError:
        exception_id = sentry_sdk.capture_exception()
    with sentry_sdk.start_transaction(name="POST /checkout", op="http.server"):
        time.sleep(0.01)
    sentry_sdk.flush(timeout=10)

    records = _records(stack["sls"], {message_id, exception_id})
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
    body = json.loads(message["body"])
    assert body["event_id"] == message_id
    assert body["breadcrumbs"]["values"][0]["message"] == "clicked pay"

    exception = records[exception_id]
    assert exception["type"] == "error"
    assert exception["level"] == "error"
    assert json.loads(exception["body"])["exception"]["values"][0]["value"] == "card number invalid"

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
