"""The official Python SDK (PyPI `aliyun-log-python-sdk`) against `sentry-sls sls-local`.

It creates a logstore and an index, puts logs (lz4-compressed protobuf, as the SDK sends them),
reads every log back, and checks SQL aggregates (count by key, approx_distinct, max_by) against
the same computation done here over the data written. The SDK's raw-IP mode
(`client._isRowIp = True`, sls-protocol.md §6.3) sends `Host: {project}.127.0.0.1`.
"""

from __future__ import annotations

import collections
import socket
import subprocess
import time

import pytest
import requests
from aliyun.log import GetHistogramsRequest, IndexConfig, LogClient, LogException, LogItem, PutLogsRequest
from aliyun.log.index_config import IndexKeyConfig, IndexLineConfig

from conftest import sentry_sls_binary

ACCESS_KEY_ID = "python-sdk-key"
ACCESS_KEY_SECRET = "python-sdk-secret"
PROJECT = "python-sdk-project"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sls_local(tmp_path_factory):
    binary = sentry_sls_binary()
    assert binary.exists(), f"sentry-sls binary not found at {binary}"
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("sls-local")
    env = {
        "SLS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "SLS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "SENTRY_SLS_LOG": "warn",
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [str(binary), "sls-local", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir), "--project", PROJECT],
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None, "sls-local exited at start"
            assert time.monotonic() < deadline, "sls-local did not start"
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=15)


def _client(port: int, secret: str = ACCESS_KEY_SECRET) -> LogClient:
    client = LogClient(f"127.0.0.1:{port}", ACCESS_KEY_ID, secret)
    client._isRowIp = True  # noqa: SLF001 - the SDK's documented raw-IP mode (sls-protocol.md §6.3)
    return client


def _rows(now: int) -> list[dict[str, str]]:
    rows = []
    for i in range(777):
        rows.append(
            {
                "service": f"svc{i % 9}",
                "user": f"user{(i * 17) % 61}",
                "latency": str((i * 7919) % 5000),
                "message": f"request {i} done with status {200 + (i % 4)}",
                "seq": str(i),
                "__time__": str(now - 600 + (i % 500)),
            }
        )
    return rows


def test_python_sdk_round_trip_and_aggregates(sls_local):
    client = _client(sls_local)
    client.create_logstore(PROJECT, "pysdk", ttl=30, shard_count=1)
    keys = {
        "service": IndexKeyConfig(token_list=[" "], case_sensitive=False, index_type="text", doc_value=True),
        "user": IndexKeyConfig(token_list=[" "], case_sensitive=False, index_type="text", doc_value=True),
        "message": IndexKeyConfig(token_list=[" "], case_sensitive=False, index_type="text", doc_value=True),
        "seq": IndexKeyConfig(token_list=[" "], case_sensitive=False, index_type="text", doc_value=True),
        "latency": IndexKeyConfig(index_type="long", doc_value=True),
    }
    client.create_index(PROJECT, "pysdk", IndexConfig(ttl=30, line_config=IndexLineConfig(token_list=[" "]), key_config_list=keys))
    index = client.get_index_config(PROJECT, "pysdk").get_index_config()
    assert index.key_config_list["latency"].index_type == "long"

    now = int(time.time())
    rows = _rows(now)
    for start in range(0, len(rows), 200):
        items = []
        for row in rows[start : start + 200]:
            contents = [(key, value) for key, value in row.items() if key != "__time__"]
            items.append(LogItem(timestamp=int(row["__time__"]), contents=contents))
        client.put_logs(PutLogsRequest(PROJECT, "pysdk", "py-topic", "py-source", items))

    # Every log back, equal (search paging, 100 per page).
    read = []
    offset = 0
    while True:
        response = client.get_log(PROJECT, "pysdk", now - 3600, now + 60, query="*", size=100, offset=offset)
        logs = response.get_logs()
        if not logs:
            break
        for log in logs:
            contents = dict(log.get_contents())
            contents["__time__"] = str(log.get_time())
            assert contents["__topic__"] == "py-topic"
            assert log.get_source() == "py-source"
            read.append({key: contents[key] for key in ("service", "user", "latency", "message", "seq", "__time__")})
        offset += len(logs)
    assert sorted(read, key=lambda row: int(row["seq"])) == rows

    # SQL aggregates against the same computation here.
    query = (
        "* | select service, count(*) as c, approx_distinct(user) as users, max_by(seq, latency) as slowest, "
        "max(latency) as top group by service order by service limit 1000"
    )
    response = client.get_log(PROJECT, "pysdk", now - 3600, now + 60, query=query)
    got = {log.get_contents()["service"]: log.get_contents() for log in response.get_logs()}
    by_service = collections.defaultdict(list)
    for row in rows:
        by_service[row["service"]].append(row)
    assert set(got) == set(by_service)
    for service, service_rows in by_service.items():
        assert got[service]["c"] == str(len(service_rows))
        assert got[service]["users"] == str(len({row["user"] for row in service_rows}))
        top = max(int(row["latency"]) for row in service_rows)
        assert got[service]["top"] == str(top)
        assert got[service]["slowest"] in {row["seq"] for row in service_rows if int(row["latency"]) == top}

    # A search with a field term and a numeric range, counted here too.
    response = client.get_log(PROJECT, "pysdk", now - 3600, now + 60, query="status and latency >= 2500 | select count(*) as c")
    expected = sum(1 for row in rows if int(row["latency"]) >= 2500)
    assert response.get_logs()[0].get_contents()["c"] == str(expected)

    # Histograms: bucket counts add up to the matches of the search.
    histograms = client.get_histograms(GetHistogramsRequest(PROJECT, "pysdk", now - 3600, now + 60, query="service:svc3"))
    assert histograms.get_total_count() == sum(1 for row in rows if row["service"] == "svc3")

    # GetLogs v1 gives the same answer as v2.
    client._get_logs_v2_enabled = False  # noqa: SLF001 - the SDK's switch to GetLogs v1
    response = client.get_log(PROJECT, "pysdk", now - 3600, now + 60, query="* | select count(*) as c")
    assert response.get_logs()[0].get_contents()["c"] == str(len(rows))


def test_python_sdk_wrong_secret_is_signature_not_match(sls_local):
    client = _client(sls_local, secret="wrong")
    with pytest.raises(LogException) as raised:
        client.list_logstore(PROJECT)
    assert raised.value.get_error_code() == "SignatureNotMatch"
