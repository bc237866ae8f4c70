"""Issue 7: an event stored more than once is counted once.

Through the SLS protocol an event can be stored twice: a PutLogs whose answer was lost is sent
again and SLS applies it again (docs/schema.md §5). Here the same record is written twice with
the official SLS Python SDK into `sentry-sls sls-local`, next to other events, and `serve`
(pointed at it with `SLS_ENDPOINT`, the production path) must count each `event_id` once in
`count()`, `countIf(…)`, the issue list with TOTALS and the seen stats, and list it once.
Expected values are computed here from the distinct events written.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests
from aliyun.log import LogClient, LogItem, PutLogsRequest
from snuba_sdk import Column, Condition, Direction, Entity, Function, Limit, Op, OrderBy, Query, Totals

from conftest import sentry_sls_binary
from test_snuba_queries import KEY_ID, KEY_SECRET, LOGSTORE, SLS_PROJECT, TIMEOUT, _stop
from test_snuba_queries import native, post, start_serve, start_sls_local

PROJECT = 11
GROUP_A = (1 << 52) + 101
GROUP_B = (1 << 52) + 202


def record(event_id: str, group: int, epoch: int, user: str) -> LogItem:
    contents = [
        ("schema_version", "1"), ("project_id", str(PROJECT)), ("group_id", str(group)),
        ("event_id", event_id), ("primary_hash", f"{group:032x}"),
        ("timestamp_ms", str(epoch * 1000)), ("received", str(epoch)), ("type", "error"),
        ("level", "error"), ("platform", "python"), ("title", "ValueError: x"),
        ("message", "x"), ("user", user), ("tags", f'{{"level":"error","sentry:user":"{user}"}}'),
    ]  # fmt: skip
    return LogItem(timestamp=epoch, contents=contents)


def test_a_record_stored_twice_counts_once(tmp_path) -> None:
    binary = str(sentry_sls_binary())
    sls_local, sls_port, client_env = start_sls_local(binary, tmp_path / "sls")
    serve = None
    try:
        subprocess.run([binary, "setup"], env=client_env, check=True)
        serve, snuba_url, _ = start_serve(binary, tmp_path / "serve", client_env)

        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        base = int(now.replace(tzinfo=UTC).timestamp()) - 600
        events = [  # (event_id, group, epoch, user)
            (uuid.uuid4().hex, GROUP_A, base + 1, "id:1"),
            (uuid.uuid4().hex, GROUP_A, base + 2, "id:2"),
            (uuid.uuid4().hex, GROUP_B, base + 3, "id:1"),
        ]
        client = LogClient(f"127.0.0.1:{sls_port}", KEY_ID, KEY_SECRET)
        client._isRowIp = True  # noqa: SLF001 - the SDK's raw-IP mode (sls-protocol.md §6.3)
        batch = [record(*event) for event in events]
        client.put_logs(PutLogsRequest(SLS_PROJECT, LOGSTORE, "sentry_error", "test", batch))
        # The retried PutLogs of a lost answer: the first event again, byte for byte.
        client.put_logs(PutLogsRequest(SLS_PROJECT, LOGSTORE, "sentry_error", "test", batch[:1]))

        expected_a = sum(1 for e in events if e[1] == GROUP_A)
        expected_b = sum(1 for e in events if e[1] == GROUP_B)
        where = [Condition(Column("project_id"), Op.IN, [PROJECT]),
                 Condition(Column("timestamp"), Op.GTE, now - timedelta(hours=1)),
                 Condition(Column("timestamp"), Op.LT, now + timedelta(minutes=5))]  # fmt: skip

        def rows(query: Query) -> dict:
            deadline = time.monotonic() + TIMEOUT
            while True:  # the second PutLogs is visible once acknowledged; poll defensively
                response = post(snuba_url, native(query))
                assert response.status_code == 200, response.text
                body = response.json()
                if body["data"] or time.monotonic() > deadline:
                    return body
                time.sleep(0.1)

        # The store really holds the record twice.
        stored = client.get_log(SLS_PROJECT, LOGSTORE, base - 60, base + 60,
                                query="* | select count(*) AS n")  # fmt: skip
        assert [log.get_contents()["n"] for log in stored.get_logs()] == [str(len(events) + 1)]
        raw = rows(Query(match=Entity("events"), select=[Column("event_id")], where=where,
                         limit=Limit(100)))  # fmt: skip
        assert sorted(r["event_id"] for r in raw["data"]) == sorted(e[0] for e in events), (
            "row queries list a repeated event once"
        )

        total = rows(Query(match=Entity("events"), select=[Function("count", [], "count")],
                           where=where))  # fmt: skip
        assert total["data"] == [{"count": len(events)}]

        by_group = rows(Query(
            match=Entity("events"),
            select=[Function("count", [], "times_seen"),
                    Function("countIf", [Function("equals", [Column("user"), "id:1"])], "by_one"),
                    Function("uniq", [Column("tags[sentry:user]")], "users")],
            groupby=[Column("group_id")], where=where,
            orderby=[OrderBy(Column("group_id"), Direction.ASC)], totals=Totals(True)))  # fmt: skip
        assert by_group["data"] == [
            {"group_id": GROUP_A, "times_seen": expected_a, "by_one": 1, "users": 2},
            {"group_id": GROUP_B, "times_seen": expected_b, "by_one": 1, "users": 1},
        ], by_group
        assert by_group["totals"]["times_seen"] == len(events)
        assert by_group["totals"]["by_one"] == 2
    finally:
        if serve is not None:
            _stop(serve)
        _stop(sls_local)
