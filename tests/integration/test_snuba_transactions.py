"""Sentry's Performance and console pages answered from the transactions ingest stores.

Transactions are sent with the real `sentry-sdk` to `sentry-sls serve` (two projects, several
transaction names, durations around the apdex threshold, span statuses, users), then the bodies a
real Sentry 23.7.1 sent while its console was crawled (`tests/data/sentry-23.7-console-snql.jsonl`,
recorded with tests/sentry/record_snuba.py) are pointed at this data and answered, and the
Performance landing table is compared with a computation in Python over what was sent.

Both stores (`backend`): `embedded` (`serve --data-dir`) and `sls-local` (the SLS protocol path).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sentry_sdk

from conftest import sentry_sls_binary
from test_snuba_queries import TIMEOUT, _stop, start_serve, start_sls_local

CONSOLE = Path(__file__).resolve().parents[1] / "data" / "sentry-23.7-console-snql.jsonl"
PROJECTS = (7, 8)
NAMES = ("/api/checkout", "/api/search", "GET /home")
STATUSES = ("ok", "ok", "ok", "internal_error", "cancelled", "unknown", "deadline_exceeded")
USERS = ("u1", "u2", "u3", "u4", None)
# Around Sentry's default threshold of 300 ms: satisfied, tolerated (<= 1200 ms), frustrated.
DURATIONS_MS = (40, 120, 300, 301, 650, 1200, 1201, 2500, 9000)
THRESHOLD_MS = 300
COUNT = 90
WINDOW = timedelta(days=14)  # the recorded queries' window (their tpm divides by its minutes)


@dataclass
class Transaction:
    project: int
    name: str
    duration_ms: int
    status: str
    user: str | None
    finish: int  # epoch seconds, whole


def plan(now: int) -> list[Transaction]:
    rng = random.Random(2107)
    finishes = rng.sample(range(now - 3 * 86400, now - 120), COUNT)
    return [
        Transaction(project=PROJECTS[index % 4 == 0], name=rng.choice(NAMES),
                    duration_ms=rng.choice(DURATIONS_MS), status=rng.choice(STATUSES),
                    user=rng.choice(USERS), finish=finish)  # fmt: skip
        for index, finish in enumerate(finishes)
    ]


def send(transactions: list[Transaction], ingest_port: int) -> None:
    for project in PROJECTS:
        client = sentry_sdk.Client(f"http://publickey@127.0.0.1:{ingest_port}/{project}",
                                   default_integrations=False)  # fmt: skip
        for tx in (t for t in transactions if t.project == project):
            event: dict[str, Any] = {
                "type": "transaction", "transaction": tx.name, "platform": "python",
                "start_timestamp": tx.finish - tx.duration_ms / 1000, "timestamp": float(tx.finish),
                "contexts": {"trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16],
                                       "op": "http.server", "status": tx.status}},
                "spans": [], "environment": "production", "release": "app@1.0",
            }  # fmt: skip
            if tx.user:
                event["user"] = {"id": tx.user}
            client.capture_event(event)
        client.flush(timeout=10)


@dataclass
class Stack:
    snuba_url: str
    transactions: list[Transaction]
    now: int


def post(stack: Stack, path: str, body: dict[str, Any], referer: str = "test") -> requests.Response:
    return requests.post(f"{stack.snuba_url}{path}", data=json.dumps(body),
                         headers={"referer": referer}, timeout=TIMEOUT)  # fmt: skip


def stored_count(snuba_url: str, now: int) -> int:
    start = datetime.fromtimestamp(now - 4 * 86400, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromtimestamp(now + 300, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    query = (f"MATCH (transactions) SELECT count() AS c WHERE finish_ts >= toDateTime('{start}') "
             f"AND finish_ts < toDateTime('{end}') AND project_id IN tuple(7, 8)")  # fmt: skip
    answer = requests.post(f"{snuba_url}/transactions/snql", json={"query": query}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()["data"][0]["c"]


@pytest.fixture(scope="module", params=["embedded", "sls-local"])
def stack(request, tmp_path_factory):
    binary = str(sentry_sls_binary())
    processes = []
    if request.param == "sls-local":
        sls_local, _, env = start_sls_local(binary, tmp_path_factory.mktemp("sls"))
        processes.append(sls_local)
        import subprocess

        subprocess.run([binary, "setup"], env=env, check=True)
    else:
        env = {"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn"}
    serve, snuba_url, ingest_port = start_serve(binary, tmp_path_factory.mktemp("serve"), env)
    processes.insert(0, serve)
    try:
        now = int(time.time())
        transactions = plan(now)
        send(transactions, ingest_port)
        deadline = time.monotonic() + 60
        while stored_count(snuba_url, now) < len(transactions):
            assert time.monotonic() < deadline, "the transactions never became queryable"
            time.sleep(0.5)
        assert stored_count(snuba_url, now) == len(transactions)
        yield Stack(snuba_url=snuba_url, transactions=transactions, now=now)
    finally:
        for process in processes:
            _stop(process)


def pointed_at(stack: Stack, query: str) -> str:
    """A recorded query on this data: project 7, and its window moved to end now (its length,
    which the recorded `tpm()` divides by, is kept)."""
    end = datetime.fromtimestamp(stack.now + 60, UTC).replace(tzinfo=None)
    start = end - WINDOW
    times = iter([start.isoformat(), end.isoformat()])

    def window(match: re.Match) -> str:
        return f"{match.group(1)} >= toDateTime('{next(times)}') AND {match.group(1)} < toDateTime('{next(times)}')"

    query = re.sub(r"(timestamp|finish_ts|started) >= toDateTime\('[^']*'\) AND \1 < toDateTime\('[^']*'\)",
                   window, query, count=1)  # fmt: skip
    return re.sub(r"project_id IN (tuple|array)\(1\)", r"project_id IN \1(7)", query)


def console_records() -> list[dict[str, Any]]:
    with CONSOLE.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_every_console_request_of_a_real_sentry_is_answered(stack: Stack) -> None:
    """The console crawl's Snuba bodies (Performance, Discover, Dashboards, Releases, Stats, …):
    each answers 200 in Snuba's shape; those on transactions find this data."""
    records = console_records()
    assert len(records) >= 40
    with_rows = 0
    for record in records:
        body = dict(record["body"])
        body["query"] = pointed_at(stack, body["query"])
        answer = post(stack, record["path"], body, record["referer"])
        assert answer.status_code == 200, (record["referer"], body["query"][:300], answer.text[:500])
        data = answer.json()
        assert [m["name"] for m in data["meta"]] == list(data["data"][0]) if data["data"] else True
        if "type = 'transaction'" in body["query"] and data["data"]:
            with_rows += 1
    # Most transaction bodies find rows (a few filter on a transaction name of the crawl).
    assert with_rows >= 8, with_rows


def order_statistic_bounds(values: list[int], level: float) -> tuple[int, int]:
    """Where an approximate percentile may land: ClickHouse's exact `quantile` interpolates
    between the order statistics around rank `level * (n - 1)`; the t-digest of SLS's
    `approx_percentile` (and DataFusion's) merges equal values into one centroid and interpolates
    between centroids, which at these sizes stays within one rank of that (docs/queries.md)."""
    ordered = sorted(values)
    rank = level * (len(ordered) - 1)
    return ordered[max(math.floor(rank) - 1, 0)], ordered[min(math.ceil(rank) + 1, len(ordered) - 1)]


def test_performance_landing_table_equals_a_computation(stack: Stack) -> None:
    record = next(r for r in console_records() if r["referer"] == "api.performance.landing-table")
    body = dict(record["body"])
    body["query"] = pointed_at(stack, body["query"])
    answer = post(stack, record["path"], body, record["referer"])
    assert answer.status_code == 200, answer.text[:500]
    rows = {row["transaction"]: row for row in answer.json()["data"]}
    mine = [t for t in stack.transactions if t.project == 7]
    assert set(rows) == {t.name for t in mine}
    minutes = WINDOW.total_seconds() / 60
    for name, row in rows.items():
        txs = [t for t in mine if t.name == name]
        durations = [t.duration_ms for t in txs]
        users = {t.user for t in txs if t.user}
        miserable = {t.user for t in txs if t.user and t.duration_ms > 4 * THRESHOLD_MS}
        satisfied = sum(d <= THRESHOLD_MS for d in durations)
        tolerated = sum(THRESHOLD_MS < d <= 4 * THRESHOLD_MS for d in durations)
        failed = sum(t.status not in ("ok", "cancelled", "unknown") for t in txs)
        assert row["project"] == 7
        assert row["tpm"] == pytest.approx(len(txs) / minutes)
        assert row["failure_rate"] == pytest.approx(failed / len(txs))
        assert row["apdex"] == pytest.approx((satisfied + tolerated / 2) / len(txs))
        assert row["count_unique_user"] == len(users)
        assert row["count_miserable_user"] == len(miserable)
        assert row["user_misery"] == pytest.approx((len(miserable) + 5.8875) / (len(users) + 117.75))
        assert row["project_threshold_config"] == ["duration", THRESHOLD_MS]
        for level, field in ((0.5, "p50"), (0.95, "p95")):
            low, high = order_statistic_bounds(durations, level)
            assert low <= row[field] <= high, (name, field, row[field], sorted(durations))
    # ORDER BY tpm DESC.
    tpms = [row["tpm"] for row in answer.json()["data"]]
    assert tpms == sorted(tpms, reverse=True)
