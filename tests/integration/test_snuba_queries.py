"""Acceptance (issue 7): Sentry's Snuba queries answered from the log store.

Events are sent with the real `sentry-sdk` to `sentry-sls serve`'s ingest (several projects,
groups, environments, releases, users, tags, handled and unhandled exceptions, timestamps spread
over four days), then every query shape of sentry-integration.md §3.2 is built with `snuba-sdk`
as Sentry builds it (the builders of test_snuba_sdk.py, pointed at this data) and its answer is
compared with a computation in Python over the events the test sent.

Two stores, same assertions (`backend` parameter):
  * `embedded`: `serve --data-dir` on the embedded store;
  * `sls-local`: `serve` with `SLS_ENDPOINT` pointing at `sentry-sls sls-local` (the production
    path: SLS client, GetLogsV2, paging).

What the test learns from the store rather than from what it sent: the `group_id` of each event
(grouping is ingest's job; the test checks that events it meant to group together share one id
and that different kinds do not), the tags ingest adds on its own (runtime, level, …) and the
trace/replay columns the SDK fills in. Those are read with plain row queries; the aggregations
over them are computed here.

Also: unknown columns and functions get Snuba's error shape; a failing `sls-local` (fault mode)
gets a mapped Snuba error quickly, never a hang or an HTML 500.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import sentry_sdk
from snuba_sdk import (
    AliasedExpression,
    Column,
    Condition,
    Direction,
    Entity,
    Function,
    Granularity,
    Limit,
    Offset,
    Op,
    Or,
    OrderBy,
    Query,
    Request,
)

import test_snuba_sdk as shapes
from conftest import _free_loopback_ports, sentry_sls_binary

KEY_ID = "query-test-key"
KEY_SECRET = "query-test-secret"
SLS_PROJECT = "query-project"
LOGSTORE = "logstore-rum"
PROJECTS = (7, 8)
KINDS = ("zero", "key", "value", "message")
ENVIRONMENTS = ("production", "staging", None)
RELEASES = ("app@1.0", "app@2.0")
USERS = ("u1", "u2", "u3", "u4", None)
BROWSERS = ("Chrome", "Firefox", None)
FEATURES = ("checkout", "search")
EVENT_COUNT = 56
TIMEOUT = 30


# ---------------------------------------------------------------------------------------------
# The events
# ---------------------------------------------------------------------------------------------


@dataclass
class Sent:
    """One event as the test sent it."""

    project: int
    kind: str
    environment: str | None
    release: str
    user: str | None
    browser: str | None
    feature: str
    handled: bool
    timestamp: datetime  # whole seconds, UTC, naive
    event_id: str = ""
    # Learned from the store (see the module docstring).
    group_id: int = 0
    tags: dict[str, str] | None = None
    extra: dict[str, Any] | None = None

    @property
    def user_tag(self) -> str | None:
        return f"id:{self.user}" if self.user else None

    @property
    def unhandled(self) -> int:
        return int(self.kind != "message" and not self.handled)

    @property
    def epoch(self) -> int:
        return int(self.timestamp.replace(tzinfo=UTC).timestamp())


def plan_events(now: datetime) -> list[Sent]:
    rng = random.Random(1207)
    # Distinct seconds: no two events tie on timestamp (argMax, latest event are exact).
    offsets = rng.sample(range(120, 4 * 86400), EVENT_COUNT)
    events = []
    for index, offset in enumerate(sorted(offsets, reverse=True)):
        events.append(
            Sent(
                project=PROJECTS[index % 5 == 0],
                kind=KINDS[index % len(KINDS)] if index % 7 else "zero",
                environment=rng.choice(ENVIRONMENTS),
                release=rng.choice(RELEASES),
                user=rng.choice(USERS),
                browser=rng.choice(BROWSERS),
                feature=rng.choice(FEATURES),
                handled=rng.random() < 0.6,
                timestamp=(now - timedelta(seconds=offset)).replace(microsecond=0),
            )
        )
    return events


CURRENT: dict[str, Sent] = {}


def _before_send(event: dict[str, Any], _hint: Any) -> dict[str, Any]:
    spec = CURRENT["spec"]
    event["timestamp"] = spec.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["release"] = spec.release
    if spec.environment:
        event["environment"] = spec.environment
    else:
        event.pop("environment", None)
    tags = dict(event.get("tags") or {})
    tags["feature"] = spec.feature
    if spec.browser:
        tags["browser"] = spec.browser
    event["tags"] = tags
    if spec.user:
        event["user"] = {"id": spec.user}
    else:
        event.pop("user", None)
    for value in (event.get("exception") or {}).get("values") or []:
        value["mechanism"] = {"type": "generic", "handled": spec.handled}
    return event


def _fail_zero() -> None:
    print(1 / 0)


def _fail_key() -> None:
    print({}["missing"])


def _fail_value() -> None:
    raise ValueError("bad value")


def send(events: list[Sent], ingest_port: int) -> None:
    for project in PROJECTS:
        sentry_sdk.init(
            dsn=f"http://publickey@127.0.0.1:{ingest_port}/{project}",
            before_send=_before_send,
            default_integrations=False,
            max_breadcrumbs=0,
        )
        for spec in (event for event in events if event.project == project):
            CURRENT["spec"] = spec
            if spec.kind == "message":
                spec.event_id = sentry_sdk.capture_message("checkout failed", level="warning")
                continue
            failing = {"zero": _fail_zero, "key": _fail_key, "value": _fail_value}[spec.kind]
            try:
                failing()
            except Exception:  # noqa: BLE001 - every kind is captured the same way
                spec.event_id = sentry_sdk.capture_exception()
        sentry_sdk.flush(timeout=10)
    sentry_sdk.init()  # no DSN: the SDK stops sending


# ---------------------------------------------------------------------------------------------
# The stack per backend
# ---------------------------------------------------------------------------------------------


def _wait(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            assert process.poll() is None, f"process exited: {process.args}"
            assert time.monotonic() < deadline, f"{url} did not come up"
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    snuba_url: str
    events: list[Sent]
    now: datetime
    sls_port: int | None = None


def start_sls_local(binary: str, data_dir, faults: str | None = None
                    ) -> tuple[subprocess.Popen, int, dict[str, str]]:
    """`sls-local` on a free loopback port, up; returns it, its port and the environment that
    points `sentry-sls` at it."""
    (port,) = _free_loopback_ports(1)
    env = {"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn", "SLS_ACCESS_KEY_ID": KEY_ID,
           "SLS_ACCESS_KEY_SECRET": KEY_SECRET}  # fmt: skip
    command = [binary, "sls-local", "--listen", f"127.0.0.1:{port}", "--project", SLS_PROJECT,
               "--data-dir", str(data_dir)]  # fmt: skip
    if faults is not None:
        command += ["--faults", faults]
    process = subprocess.Popen(command, env=env)
    try:
        _wait(f"http://127.0.0.1:{port}/metrics", process)
    except BaseException:
        _stop(process)
        raise
    client_env = {**env, "SLS_ENDPOINT": f"http://127.0.0.1:{port}", "SLS_PROJECT": SLS_PROJECT,
                  "SLS_LOGSTORE": LOGSTORE}  # fmt: skip
    return process, port, client_env


def start_serve(binary: str, data_dir, env: dict[str, str]) -> tuple[subprocess.Popen, str, int]:
    snuba_port, ingest_port = _free_loopback_ports(2)
    serve = subprocess.Popen(
        [binary, "serve", "--snuba-listen", f"127.0.0.1:{snuba_port}",
         "--ingest-listen", f"127.0.0.1:{ingest_port}", "--data-dir", str(data_dir)],
        env=env,
    )  # fmt: skip
    _wait(f"http://127.0.0.1:{snuba_port}/health", serve)
    return serve, f"http://127.0.0.1:{snuba_port}", ingest_port


@pytest.fixture(scope="module", params=["embedded", "sls-local"])
def stack(request, tmp_path_factory):
    binary = str(sentry_sls_binary())
    base_env = {"PATH": "/usr/bin:/bin", "SENTRY_SLS_LOG": "warn"}
    processes = []
    sls_port = None
    if request.param == "sls-local":
        sls_local, sls_port, env = start_sls_local(binary, tmp_path_factory.mktemp("sls"))
        processes.append(sls_local)
        subprocess.run([binary, "setup"], env=env, check=True)
    else:
        env = base_env
    serve, snuba_url, ingest_port = start_serve(binary, tmp_path_factory.mktemp("serve"), env)
    processes.insert(0, serve)
    try:
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        events = plan_events(now)
        send(events, ingest_port)
        learn(snuba_url, events, now)
        yield Stack(snuba_url=snuba_url, events=events, now=now, sls_port=sls_port)
    finally:
        for process in processes:
            _stop(process)


# ---------------------------------------------------------------------------------------------
# Talking to the API
# ---------------------------------------------------------------------------------------------


def post(snuba_url: str, request: Request, dataset: str | None = None) -> requests.Response:
    return requests.post(
        f"{snuba_url}/{dataset or request.dataset}/snql",
        data=request.serialize().encode(),
        headers={"referer": request.tenant_ids.get("referrer", "test")},
        timeout=TIMEOUT,
    )


def run(snuba_url: str, request: Request) -> dict[str, Any]:
    response = post(snuba_url, request)
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    return response.json()


def native(query: Query, referrer: str = "test", app_id: str = "default") -> Request:
    return shapes.native_request(
        referrer=referrer, parent_api="<unknown>", dry_run=False, dataset="events",
        app_id=app_id, query=query,
    )  # fmt: skip


def window(stack: Stack) -> tuple[datetime, datetime]:
    return stack.now - timedelta(days=5), stack.now + timedelta(minutes=5)


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def learn(snuba_url: str, events: list[Sent], now: datetime) -> None:
    """Waits until every sent event is queryable, then reads each event's group_id, tags and
    the SDK-filled columns (a plain row query: no aggregation involved)."""
    start, end = now - timedelta(days=5), now + timedelta(minutes=5)
    query = Query(
        match=Entity("events"),
        select=[Column(name) for name in (
            "event_id", "group_id", "project_id", "tags.key", "tags.value", "trace_sampled",
            "num_processing_errors", "replay_id", "profile_id", "timestamp")],
        where=[
            Condition(Column("project_id"), Op.IN, list(PROJECTS)),
            Condition(Column("timestamp"), Op.GTE, start),
            Condition(Column("timestamp"), Op.LT, end),
        ],
        orderby=[OrderBy(Column("timestamp"), Direction.ASC)],
        limit=Limit(1000),
    )  # fmt: skip
    wanted = {event.event_id for event in events}
    deadline = time.monotonic() + 60
    while True:
        rows = run(snuba_url, native(query))["data"]
        found = {row["event_id"]: row for row in rows}
        if wanted <= set(found):
            break
        assert time.monotonic() < deadline, f"events never became queryable: {wanted - set(found)}"
        time.sleep(0.5)
    assert len(rows) == len(events), "each event is stored (and answered) once"
    for event in events:
        row = found[event.event_id]
        assert row["project_id"] == event.project
        assert row["timestamp"] == iso(event.epoch), (row, event)
        event.group_id = row["group_id"]
        event.tags = dict(zip(row["tags.key"], row["tags.value"], strict=True))
        event.extra = {name: row[name] for name in
                       ("trace_sampled", "num_processing_errors", "replay_id", "profile_id")}  # fmt: skip
    # What the test set is what the store holds.
    for event in events:
        assert event.tags.get("browser") == event.browser
        assert event.tags.get("feature") == event.feature
        assert event.tags.get("environment") == event.environment
        assert event.tags.get("sentry:release") == event.release
        assert event.tags.get("sentry:user") == event.user_tag
    # Grouping: one group per (project, kind), distinct across kinds and projects.
    groups = defaultdict(set)
    for event in events:
        groups[(event.project, event.kind)].add(event.group_id)
    assert all(len(ids) == 1 for ids in groups.values()), groups
    assert len({next(iter(ids)) for ids in groups.values()}) == len(groups)


def groups_of(events: list[Sent]) -> dict[int, list[Sent]]:
    out: dict[int, list[Sent]] = defaultdict(list)
    for event in events:
        out[event.group_id].append(event)
    return dict(out)


def biggest_group(stack: Stack, project: int = 7) -> int:
    groups = groups_of([e for e in stack.events if e.project == project])
    return max(groups, key=lambda group: (len(groups[group]), group))


# ---------------------------------------------------------------------------------------------
# Issue list
# ---------------------------------------------------------------------------------------------

SORTS = {
    "date": ("last_seen", lambda evs: max(e.epoch for e in evs) * 1000),
    "freq": ("times_seen", len),
    "new": ("first_seen", lambda evs: min(e.epoch for e in evs) * 1000),
    "user": ("user_count", lambda evs: len({e.user for e in evs if e.user})),
}


def issue_list_request(stack: Stack, field: str, cursor: int | None, *, conditions=(),
                       environment: str | None = "production", sample: bool = False,
                       limit: int = 150, candidates: list[int] | None = None,
                       projects: list[int] | None = None) -> Request:  # fmt: skip
    start, end = window(stack)
    filter_keys: dict[str, Any] = {}
    if candidates is not None:
        filter_keys["group_id"] = candidates
    filter_keys["project_id"] = projects or [7]
    if environment:
        filter_keys["environment"] = [environment]
    aggregations = [[*shapes.ISSUE_AGGREGATIONS[field], field],
                    [*shapes.ISSUE_AGGREGATIONS["total"], "total"]]  # fmt: skip
    selected: list[Any] = []
    if sample:
        selected.append(["cityHash64", ["'abcd1234'", "group_id"], "sample"])
        orderby: Any = ["sample"]
    else:
        orderby = [f"-{field}", "group_id"]
    return shapes.legacy_request(
        referrer="search.group_index_sample" if sample else "search.group_index",
        parent_api=shapes.ISSUES_API, dry_run=False, start=start, end=end,
        filter_keys=filter_keys, conditions=[*conditions, ["type", "!=", "transaction"]],
        aggregations=aggregations, selected_columns=selected, groupby=["group_id"],
        having=[] if cursor is None else [[field, "<=", cursor]], orderby=orderby,
        limit=100 if sample else limit, offset=0, totals=True, turbo=sample, sample=1,
    )  # fmt: skip


@pytest.mark.parametrize("sort", list(SORTS))
def test_issue_list_sorts_with_cursor_and_totals(stack: Stack, sort: str) -> None:
    field, score = SORTS[sort]
    events = [e for e in stack.events if e.project == 7 and e.environment == "production"]
    scores = {group: score(evs) for group, evs in groups_of(events).items()}
    assert len(scores) >= 3
    cursor = sorted(scores.values())[len(scores) // 2]  # a second page: HAVING <= cursor
    candidates = sorted({e.group_id for e in stack.events if e.project == 7})
    for cursor_value in (None, cursor):
        body = run(stack.snuba_url, issue_list_request(stack, field, cursor_value,
                                                       candidates=candidates))  # fmt: skip
        passing = {g: s for g, s in scores.items() if cursor_value is None or s <= cursor_value}
        expected = [{"group_id": g, field: s, "total": 1}
                    for g, s in sorted(passing.items(), key=lambda item: (-item[1], item[0]))]  # fmt: skip
        assert body["data"] == expected, (sort, cursor_value)
        assert body["totals"]["total"] == len(passing)
        names = [m["name"] for m in body["meta"]]
        assert names == ["group_id", field, "total"]
        # As Snuba writes them: every row's keys (and the totals') in the query's column order.
        assert all(list(row) == names for row in body["data"]), body["data"][:3]
        assert list(body["totals"]) == names


@pytest.mark.parametrize("candidates", [15, 30, 1000])
def test_issue_list_of_many_projects_and_candidates(stack: Stack, candidates: int) -> None:
    """Sentry's candidate groups and an organisation's projects: every list is a
    condition, however long, and the answer is the same as with no lists at all."""
    projects = list(PROJECTS) + list(range(100, 130))  # 30 projects with no events beside ours
    real = sorted({e.group_id for e in stack.events if e.project in PROJECTS})
    chosen = real[::2]  # half of the real groups, then ids no event has
    request = issue_list_request(stack, "times_seen", None, environment=None, projects=projects,
                                 candidates=chosen + absent_groups(candidates - len(chosen)))  # fmt: skip
    body = run(stack.snuba_url, request)
    counts = {g: len(evs) for g, evs in groups_of(
        [e for e in stack.events if e.project in PROJECTS and e.group_id in set(chosen)]).items()}
    assert [(r["group_id"], r["times_seen"]) for r in body["data"]] == sorted(
        counts.items(), key=lambda item: (-item[1], item[0]))
    assert body["totals"]["total"] == len(counts)


def test_issue_list_with_tag_and_text_filters(stack: Stack) -> None:
    conditions = [shapes.TAG_FILTER, shapes.MESSAGE_FILTER]
    body = run(stack.snuba_url, issue_list_request(stack, "last_seen", None, conditions=conditions))
    events = [e for e in stack.events if e.project == 7 and e.environment == "production"
              and e.browser == "Chrome" and e.kind == "zero"]  # fmt: skip
    expected = sorted(((g, max(e.epoch for e in evs) * 1000) for g, evs in groups_of(events).items()),
                      key=lambda item: (-item[1], item[0]))  # fmt: skip
    assert [(row["group_id"], row["last_seen"]) for row in body["data"]] == expected
    assert body["totals"]["total"] == len(expected)


def test_issue_list_hit_sample(stack: Stack) -> None:
    body = run(stack.snuba_url, issue_list_request(stack, "last_seen", None, environment=None,
                                                   sample=True))  # fmt: skip
    expected = {e.group_id for e in stack.events if e.project == 7}
    assert {row["group_id"] for row in body["data"]} == expected
    samples = [row["sample"] for row in body["data"]]
    assert samples == sorted(samples)
    assert body["totals"]["total"] == len(expected)


def test_issue_list_on_discover_like_sentry_23_7(stack: Stack) -> None:
    request = issue_list_request(stack, "times_seen", None, environment=None)
    request.query = request.query.set_match(Entity("discover", sample=1.0))
    request.dataset = "discover"
    body = run(stack.snuba_url, request)
    counts = {g: len(evs) for g, evs in groups_of([e for e in stack.events if e.project == 7]).items()}
    assert [(r["group_id"], r["times_seen"]) for r in body["data"]] == sorted(
        counts.items(), key=lambda item: (-item[1], item[0]))


# ---------------------------------------------------------------------------------------------
# Issue stats, badge, sparklines
# ---------------------------------------------------------------------------------------------


def test_seen_stats(stack: Stack) -> None:
    start, end = window(stack)
    groups = groups_of([e for e in stack.events if e.project == 7 and e.environment == "production"])
    request = shapes.legacy_request(
        referrer="serializers.GroupSerializerSnuba._execute_error_seen_stats_query",
        parent_api=shapes.ISSUES_STATS_API, dry_run=False, start=start, end=end,
        filter_keys={"project_id": [7], "group_id": sorted(groups), "environment": ["production"]},
        aggregations=[["count()", "", "times_seen"], ["min", "timestamp", "first_seen"],
                      ["max", "timestamp", "last_seen"], ["uniq", "tags[sentry:user]", "count"]],
        groupby=["group_id"],
    )  # fmt: skip
    body = run(stack.snuba_url, request)
    expected = {
        g: {"group_id": g, "times_seen": len(evs), "first_seen": iso(min(e.epoch for e in evs)),
            "last_seen": iso(max(e.epoch for e in evs)),
            "count": len({e.user for e in evs if e.user})}
        for g, evs in groups.items()
    }  # fmt: skip
    assert {row["group_id"]: row for row in body["data"]} == expected


def absent_groups(count: int) -> list[int]:
    """Group ids no event has: they fill a page or a candidate list to a real size."""
    return [10**15 + n for n in range(count)]


def test_unhandled_flag(stack: Stack) -> None:
    start, end = window(stack)
    groups = groups_of([e for e in stack.events if e.project == 7])
    # A page of 100 groups, as Sentry 23.7.1's serializer sends it: the project once per group
    # (46 search conditions at 15 groups once made this a 500).
    page = sorted(groups) + absent_groups(100 - len(groups))
    request = shapes.legacy_request(
        referrer="group.unhandled-flag", parent_api=shapes.ISSUES_API, dry_run=False,
        start=start, end=end, filter_keys={"project_id": [7] * len(page), "group_id": page},
        selected_columns=["group_id", ["argMax", [["has", ["exception_stacks.mechanism_handled", 0]],
                                                  "timestamp"], "unhandled"]],
        groupby=["group_id"], orderby="group_id",
    )  # fmt: skip
    body = run(stack.snuba_url, request)
    expected = [{"group_id": g, "unhandled": max(evs, key=lambda e: e.epoch).unhandled}
                for g, evs in sorted(groups.items())]  # fmt: skip
    assert body["data"] == expected
    assert any(row["unhandled"] for row in expected) and not all(row["unhandled"] for row in expected)


@pytest.mark.parametrize("rollup,buckets", [(3600, 48), (86400, 6)])
def test_sparklines(stack: Stack, rollup: int, buckets: int) -> None:
    end = datetime.fromtimestamp((int(stack.now.replace(tzinfo=UTC).timestamp()) // rollup + 1)
                                 * rollup, UTC).replace(tzinfo=None)  # fmt: skip
    start = end - timedelta(seconds=rollup * buckets)
    groups = sorted({e.group_id for e in stack.events if e.project == 8})
    query = Query(
        match=Entity("events"),
        select=[Function("count", [], "aggregate")],
        where=[Condition(Column("group_id"), Op.IN, groups),
               Condition(Column("project_id"), Op.IN, [8]),
               Condition(Column("timestamp"), Op.GTE, start),
               Condition(Column("timestamp"), Op.LT, end)],
        groupby=[Column("group_id"), Column("time")],
        orderby=[OrderBy(Column("time"), Direction.DESC), OrderBy(Column("group_id"), Direction.ASC)],
        granularity=Granularity(rollup),
        limit=Limit(min(10000, len(groups) * buckets)),
    )  # fmt: skip
    body = run(stack.snuba_url, native(query, "tsdb-modelid:4", "tsdb.get_data"))
    low, high = int(start.replace(tzinfo=UTC).timestamp()), int(end.replace(tzinfo=UTC).timestamp())
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for e in stack.events:
        if e.project == 8 and low <= e.epoch < high:
            counts[(e.epoch // rollup * rollup, e.group_id)] += 1
    expected = [{"group_id": g, "time": iso(t), "aggregate": n}
                for (t, g), n in sorted(counts.items(), key=lambda item: (-item[0][0], item[0][1]))]  # fmt: skip
    assert body["data"] == expected
    time_type = {m["name"]: m["type"] for m in body["meta"]}["time"]
    assert time_type == ("Date" if rollup == 86400 else "DateTime('Universal')")


# ---------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------


def tag_request(stack: Stack, group: int, **kwargs: Any) -> Request:
    start, end = window(stack)
    filter_keys = {"project_id": [7], **kwargs.pop("filter_keys", {}), "group_id": [group]}
    return shapes.legacy_request(parent_api=shapes.GROUP_TAGS_API, dry_run=False, start=start,
                                 end=end, filter_keys=filter_keys, **kwargs)  # fmt: skip


def test_tag_keys(stack: Stack) -> None:
    group = biggest_group(stack)
    body = run(stack.snuba_url, tag_request(
        stack, group, referrer="tagstore.__get_tag_keys", aggregations=[["count()", "", "count"]],
        groupby=["tags_key"], orderby="-count", limit=100))  # fmt: skip
    counts: dict[str, int] = defaultdict(int)
    for e in groups_of(stack.events)[group]:
        for key in e.tags:
            counts[key] += 1
    assert {r["tags_key"]: r["count"] for r in body["data"]} == counts
    assert len(body["data"]) == len(counts)
    got = [r["count"] for r in body["data"]]
    assert got == sorted(got, reverse=True)


def test_tag_top_values_limit_by(stack: Stack) -> None:
    group = biggest_group(stack)
    keys = ["browser", "environment", "feature", "sentry:user"]
    body = run(stack.snuba_url, tag_request(
        stack, group, referrer="tagstore._get_tag_keys_and_top_values",
        filter_keys={"tags_key": keys},
        aggregations=[["count()", "", "count"], ["min", "timestamp", "first_seen"],
                      ["max", "timestamp", "last_seen"]],
        groupby=["tags_key", "tags_value"], orderby="-count", limitby=[2, "tags_key"]))  # fmt: skip
    stats: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in groups_of(stack.events)[group]:
        for key, value in e.tags.items():
            if key in keys:
                stats[(key, value)].append(e.epoch)
    per_key: dict[str, list] = defaultdict(list)
    for (key, value), epochs in stats.items():
        per_key[key].append((len(epochs), value, min(epochs), max(epochs)))
    rows = body["data"]
    got_counts = [r["count"] for r in rows]
    assert got_counts == sorted(got_counts, reverse=True)
    for key in keys:
        got = [r for r in rows if r["tags_key"] == key]
        ranked = sorted(per_key[key], reverse=True)
        assert len(got) == min(2, len(ranked)), key
        # The kept values are top ones (ties may pick either, as in ClickHouse).
        threshold = ranked[len(got) - 1][0]
        for r in got:
            match = [v for v in ranked if v[1] == r["tags_value"]]
            assert match and match[0][0] == r["count"] >= threshold
            assert (r["first_seen"], r["last_seen"]) == (iso(match[0][2]), iso(match[0][3]))


def test_tag_empty_counts(stack: Stack) -> None:
    group = biggest_group(stack)
    keys = ["browser", "environment", "sentry:user", "feature", "nope"]
    body = run(stack.snuba_url, tag_request(
        stack, group, referrer="tagstore._get_tag_keys_and_top_values_empty_counts",
        aggregations=[["countIf", [["equals", [f"tags[{k}]", "''"]]], f"cnt_{i}"]
                      for i, k in enumerate(keys)]))  # fmt: skip
    events = groups_of(stack.events)[group]
    expected = {f"cnt_{i}": sum(1 for e in events if not e.tags.get(k)) for i, k in enumerate(keys)}
    # Promoted tags (environment, sentry:user) are NULL when missing: `NULL = ''` is not true.
    for i, k in enumerate(keys):
        if k in ("environment", "sentry:user"):
            expected[f"cnt_{i}"] = 0
    assert body["data"] == [expected]


def test_one_tag_key_with_totals(stack: Stack) -> None:
    group = biggest_group(stack)
    tag = "tags[browser]"
    body = run(stack.snuba_url, tag_request(
        stack, group, referrer="tagstore.__get_tag_key_and_top_values",
        conditions=[[tag, "!=", ""]],
        aggregations=[["uniq", tag, "values_seen"], ["count()", "", "count"],
                      ["min", "timestamp", "first_seen"], ["max", "timestamp", "last_seen"]],
        groupby=[tag], orderby="-count", limit=9, totals=True))  # fmt: skip
    events = [e for e in groups_of(stack.events)[group] if e.browser]
    by_value: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_value[e.browser].append(e.epoch)
    got = {r[tag]: r for r in body["data"]}
    assert got == {v: {tag: v, "values_seen": 1, "count": len(ep), "first_seen": iso(min(ep)),
                       "last_seen": iso(max(ep))} for v, ep in by_value.items()}  # fmt: skip
    assert body["totals"]["values_seen"] == len(by_value)
    assert body["totals"]["count"] == len(events)
    assert body["totals"]["first_seen"] == iso(min(e.epoch for e in events))
    assert body["totals"][tag] == ""


def test_tag_values(stack: Stack) -> None:
    group = biggest_group(stack)
    body = run(stack.snuba_url, tag_request(
        stack, group, referrer="tagstore.get_group_tag_value_iter",
        filter_keys={"tags_key": ["sentry:user"]},
        aggregations=[["count()", "", "times_seen"], ["min", "timestamp", "first_seen"],
                      ["max", "timestamp", "last_seen"]],
        groupby=["tags_value"], orderby="-last_seen", limit=1000, offset=0))  # fmt: skip
    by_value: dict[str, list[int]] = defaultdict(list)
    for e in groups_of(stack.events)[group]:
        if e.user_tag:
            by_value[e.user_tag].append(e.epoch)
    expected = [{"tags_value": v, "times_seen": len(ep), "first_seen": iso(min(ep)),
                 "last_seen": iso(max(ep))}
                for v, ep in sorted(by_value.items(), key=lambda item: -max(item[1]))]  # fmt: skip
    assert body["data"] == expected


def test_users_affected(stack: Stack) -> None:
    groups = groups_of([e for e in stack.events if e.project == 7])
    request = shapes.legacy_request(
        referrer="tagstore.get_groups_user_counts", parent_api=shapes.GROUP_API, dry_run=False,
        start=stack.now - timedelta(days=90), end=stack.now + timedelta(seconds=1),
        filter_keys={"project_id": [7], "group_id": sorted(groups)},
        aggregations=[["uniq", "tags[sentry:user]", "count"]], groupby=["group_id"],
        orderby="-count",
    )  # fmt: skip
    body = run(stack.snuba_url, request)
    expected = {g: len({e.user for e in evs if e.user}) for g, evs in groups.items()}
    assert {r["group_id"]: r["count"] for r in body["data"]} == expected
    got = [r["count"] for r in body["data"]]
    assert got == sorted(got, reverse=True)


# ---------------------------------------------------------------------------------------------
# Events of an issue
# ---------------------------------------------------------------------------------------------


EVENT_COLUMNS = shapes.EVENT_COLUMNS


def event_row(e: Sent) -> dict[str, Any]:
    return {"event_id": e.event_id, "group_id": e.group_id, "project_id": e.project,
            "timestamp": iso(e.epoch),
            "timestamp_ms": e.timestamp.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip


@pytest.mark.parametrize("direction", [Direction.DESC, Direction.ASC])
def test_latest_and_oldest_event(stack: Stack, direction: Direction) -> None:
    group = biggest_group(stack)
    start, end = window(stack)
    query = Query(
        match=Entity("events"), select=[Column(c) for c in EVENT_COLUMNS],
        where=[Condition(Column("timestamp"), Op.GTE, start),
               Condition(Column("timestamp"), Op.LT, end),
               Condition(Column("project_id"), Op.IN, [7]),
               Condition(Column("group_id"), Op.IN, [group])],
        orderby=shapes.eventstore_order(direction), limit=Limit(1), offset=Offset(0),
    )  # fmt: skip
    body = run(stack.snuba_url, native(query, "Group.get_latest", "eventstore"))
    events = groups_of(stack.events)[group]
    pick = max if direction == Direction.DESC else min
    assert body["data"] == [event_row(pick(events, key=lambda e: (e.epoch, e.event_id)))]


def test_recommended_event(stack: Stack) -> None:
    group = biggest_group(stack)
    events = groups_of(stack.events)[group]
    last_seen = datetime.fromtimestamp(max(e.epoch for e in events), UTC).replace(tzinfo=None)
    end = last_seen + timedelta(minutes=1)
    start = end - timedelta(days=7)
    inner_columns = [*EVENT_COLUMNS, "replay_id", "trace_sampled", "num_processing_errors",
                     "profile_id"]  # fmt: skip
    inner = Query(
        match=Entity("events"), select=[Column(c) for c in inner_columns],
        where=[Condition(Column("timestamp"), Op.GTE, start),
               Condition(Column("timestamp"), Op.LT, end),
               Condition(Column("project_id"), Op.IN, [7]),
               Condition(Column("group_id"), Op.IN, [group])],
        orderby=[OrderBy(Column("timestamp"), Direction.DESC),
                 OrderBy(Column("event_id"), Direction.DESC)],
        limit=Limit(1000),
    )  # fmt: skip

    def present_first(column: str) -> Function:
        return Function("if", [Function("isNull", [Column(column)]), 0, 1])

    outer = Query(
        match=inner, select=[Column(c) for c in EVENT_COLUMNS],
        orderby=[OrderBy(present_first("replay_id"), Direction.DESC),
                 OrderBy(Function("coalesce", [Column("trace_sampled"), -1]), Direction.DESC),
                 OrderBy(Function("coalesce", [Column("num_processing_errors"), 99999999]),
                         Direction.ASC),
                 OrderBy(present_first("profile_id"), Direction.DESC),
                 OrderBy(Function("toStartOfDay", [Column("timestamp")]), Direction.DESC),
                 OrderBy(Column("timestamp"), Direction.DESC),
                 OrderBy(Column("event_id"), Direction.DESC)],
        limit=Limit(1), offset=Offset(0),
    )  # fmt: skip
    body = run(stack.snuba_url, native(outer, "Group.get_helpful", "eventstore"))
    low = int(start.replace(tzinfo=UTC).timestamp())
    candidates = [e for e in events if e.epoch >= low]

    def rank(e: Sent) -> tuple:
        x = e.extra
        sampled = -1 if x["trace_sampled"] is None else x["trace_sampled"]
        errors = 99999999 if x["num_processing_errors"] is None else x["num_processing_errors"]
        return (x["replay_id"] is not None, sampled, -errors, x["profile_id"] is not None,
                e.epoch // 86400, e.epoch, e.event_id)  # fmt: skip

    assert body["data"] == [event_row(max(candidates, key=rank))]


def test_event_by_id(stack: Stack) -> None:
    event = stack.events[len(stack.events) // 2]
    request = shapes.legacy_request(
        referrer="eventstore.backend.get_event_by_id_nodestore", parent_api=shapes.GROUP_EVENT_API,
        dry_run=False, start=event.timestamp, end=event.timestamp + timedelta(seconds=1),
        filter_keys={"project_id": [event.project], "event_id": [event.event_id],
                     "group_id": [event.group_id]},
        conditions=[["timestamp", ">", datetime(2001, 9, 9, 1, 46, 40)]],
        selected_columns=EVENT_COLUMNS, limit=1,
    )  # fmt: skip
    assert run(stack.snuba_url, request)["data"] == [event_row(event)]
    # Dashed UUID spelling of the id works too (Snuba's UUIDColumnProcessor).
    dashed = str(uuid.UUID(event.event_id))
    request.query = request.query.set_where([
        c if getattr(c, "lhs", None) != Column("event_id") else Condition(Column("event_id"), Op.IN, [dashed])
        for c in request.query.where
    ])  # fmt: skip
    assert run(stack.snuba_url, request)["data"] == [event_row(event)]


@pytest.mark.parametrize("is_prev", [True, False])
def test_adjacent_events(stack: Stack, is_prev: bool) -> None:
    group = biggest_group(stack)
    events = sorted(groups_of(stack.events)[group], key=lambda e: (e.epoch, e.event_id))
    assert len(events) >= 3
    current = events[len(events) // 2]
    t = current.timestamp
    constant = [Condition(Column("group_id"), Op.EQ, group), Condition(Column("project_id"), Op.EQ, 7)]
    if is_prev:
        conditions = [Condition(Column("timestamp"), Op.GTE, t - timedelta(days=100)),
                      Condition(Column("timestamp"), Op.LT, t + timedelta(seconds=1)),
                      Or([Condition(Column("timestamp"), Op.LT, t),
                          Condition(Column("event_id"), Op.LT, current.event_id)])]  # fmt: skip
    else:
        conditions = [Condition(Column("timestamp"), Op.LT, t + timedelta(days=100)),
                      Condition(Column("timestamp"), Op.GTE, t),
                      Or([Condition(Column("event_id"), Op.GT, current.event_id),
                          Condition(Column("timestamp"), Op.GT, t)])]  # fmt: skip
    direction = Direction.DESC if is_prev else Direction.ASC
    query = Query(match=Entity("events"), select=[Column("event_id"), Column("project_id")],
                  where=[*constant, *conditions], orderby=shapes.eventstore_order(direction),
                  limit=Limit(1))  # fmt: skip
    body = run(stack.snuba_url, native(query, "eventstore.get_next_or_prev_event_id_snql", "eventstore"))
    index = events.index(current)
    neighbour = events[index - 1] if is_prev else events[index + 1]
    assert body["data"] == [{"event_id": neighbour.event_id, "project_id": 7}]


def test_group_events_list(stack: Stack) -> None:
    group = biggest_group(stack)
    start, end = window(stack)
    query = Query(
        match=Entity("events"),
        select=[Function("coalesce", [Column("group_id"), 0], "issue.id"),
                AliasedExpression(Column("event_id"), "id"),
                AliasedExpression(Column("project_id"), "project.id"), Column("timestamp")],
        where=[Condition(Column("group_id"), Op.EQ, group),
               Condition(Column("timestamp"), Op.GTE, start),
               Condition(Column("timestamp"), Op.LT, end),
               Condition(Column("project_id"), Op.IN, [7])],
        orderby=[OrderBy(Column("timestamp"), Direction.DESC)], limit=Limit(5), offset=Offset(2),
    )  # fmt: skip
    body = run(stack.snuba_url, native(query, "api.group-events.error"))
    events = sorted(groups_of(stack.events)[group], key=lambda e: -e.epoch)[2:7]
    assert body["data"] == [{"issue.id": group, "id": e.event_id, "project.id": 7,
                             "timestamp": iso(e.epoch)} for e in events]  # fmt: skip


def test_count_without_by_and_debug_sql(stack: Stack) -> None:
    start, end = window(stack)
    query = Query(match=Entity("events"), select=[Function("count", [], "count")],
                  where=[Condition(Column("project_id"), Op.IN, [8]),
                         Condition(Column("timestamp"), Op.GTE, start),
                         Condition(Column("timestamp"), Op.LT, end)])  # fmt: skip
    request = native(query)
    request.flags.debug = True
    body = run(stack.snuba_url, request)
    assert body["data"] == [{"count": sum(1 for e in stack.events if e.project == 8)}]
    # Through the SLS API an event may be stored twice: count() counts event ids there.
    counted = 'count(DISTINCT "event_id")' if stack.sls_port else "count(*)"
    assert body["sql"].startswith(f"__topic__: sentry_error and project_id: 8 | SELECT {counted}")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("select,message", [
    (Column("no_such_column"), "no_such_column"),
    (Function("noSuchFunction", [Column("group_id")], "x"), "noSuchFunction"),
])  # fmt: skip
def test_unknown_columns_and_functions(stack: Stack, select: Any, message: str) -> None:
    start, end = window(stack)
    query = Query(match=Entity("events"), select=[select],
                  where=[Condition(Column("project_id"), Op.IN, [7]),
                         Condition(Column("timestamp"), Op.GTE, start),
                         Condition(Column("timestamp"), Op.LT, end)])  # fmt: skip
    response = post(stack.snuba_url, native(query))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_query"
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("faults,status,code", [("500=1", 500, 279), ("incomplete=1", 500, 160)])
def test_store_faults_become_snuba_errors(tmp_path, faults: str, status: int, code: int) -> None:
    binary = str(sentry_sls_binary())
    sls_local, _, client_env = start_sls_local(binary, tmp_path / "sls", faults)
    serve = None
    try:
        if not faults.startswith("500"):
            # Writes are unaffected by query faults: the logstore exists, queries fail.
            subprocess.run([binary, "setup"], env=client_env, check=True)
        serve, snuba_url, _ = start_serve(binary, tmp_path / "serve", client_env)
        now = datetime.now(UTC).replace(tzinfo=None)
        query = Query(match=Entity("events"), select=[Function("count", [], "count")],
                      where=[Condition(Column("project_id"), Op.IN, [7]),
                             Condition(Column("timestamp"), Op.GTE, now - timedelta(hours=1)),
                             Condition(Column("timestamp"), Op.LT, now)])  # fmt: skip
        started = time.monotonic()
        response = post(snuba_url, native(query))
        assert time.monotonic() - started < TIMEOUT
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("clickhouse", code), error
    finally:
        if serve is not None:
            _stop(serve)
        _stop(sls_local)


# ---------------------------------------------------------------------------------------------
# Array conditions and the trends sort
# ---------------------------------------------------------------------------------------------

STACK_TYPES = {"zero": "ZeroDivisionError", "key": "KeyError", "value": "ValueError"}


@pytest.mark.parametrize("condition,matches", [
    (Condition(Column("exception_stacks.type"), Op.EQ, "KeyError"),
     lambda e: e.kind == "key"),
    (Condition(Column("exception_stacks.type"), Op.IN, ["KeyError", "ValueError"]),
     lambda e: e.kind in ("key", "value")),
    (Condition(Column("exception_stacks.type"), Op.NEQ, "KeyError"),
     lambda e: e.kind != "key"),
    (Condition(Column("exception_stacks.type"), Op.LIKE, "Zero%Error"),
     lambda e: e.kind == "zero"),
    (Condition(Column("exception_stacks.type"), Op.NOT_LIKE, "%Error"),
     lambda e: e.kind == "message"),
    (Condition(Function("notEmpty", [Column("exception_stacks.type")]), Op.EQ, 1),
     lambda e: e.kind != "message"),
    (Condition(Function("notHandled", []), Op.EQ, 1), lambda e: bool(e.unhandled)),
    (Condition(Function("has", [Column("tags.key"), "browser"]), Op.EQ, 1),
     lambda e: e.browser is not None),
])  # fmt: skip
def test_array_conditions(stack: Stack, condition: Condition, matches: Any) -> None:
    start, end = window(stack)
    query = Query(match=Entity("events"), select=[Function("count", [], "count")],
                  where=[Condition(Column("project_id"), Op.IN, [7, 8]),
                         Condition(Column("timestamp"), Op.GTE, start),
                         Condition(Column("timestamp"), Op.LT, end), condition])  # fmt: skip
    body = run(stack.snuba_url, native(query))
    assert body["data"] == [{"count": sum(1 for e in stack.events if matches(e))}]


def test_issue_list_sort_trends(stack: Stack) -> None:
    start, end = window(stack)
    groups = groups_of([e for e in stack.events if e.project == 7])
    aggregations = [[*shapes.trends_aggregation(start, end), "trends"],
                    [*shapes.ISSUE_AGGREGATIONS["last_seen"], "last_seen"],
                    [*shapes.ISSUE_AGGREGATIONS["times_seen"], "times_seen"],
                    [*shapes.ISSUE_AGGREGATIONS["total"], "total"]]  # fmt: skip
    request = shapes.legacy_request(
        referrer="search.group_index", parent_api=shapes.ISSUES_API, dry_run=False, start=start,
        end=end, filter_keys={"group_id": sorted(groups), "project_id": [7]},
        conditions=[["type", "!=", "transaction"]], aggregations=aggregations,
        groupby=["group_id"], orderby=["-trends", "group_id"], limit=150, offset=0, totals=True,
        sample=1,
    )  # fmt: skip
    body = run(stack.snuba_url, request)
    assert {r["group_id"]: r["times_seen"] for r in body["data"]} == {
        g: len(evs) for g, evs in groups.items()}
    scores = [r["trends"] for r in body["data"]]
    assert all(isinstance(score, float) and score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert body["totals"]["total"] == len(groups)


def test_hundreds_of_rows_page_past_the_store_default(stack: Stack) -> None:
    """One row per (event, tag): several hundred rows, past SLS's 100-row default page."""
    start, end = window(stack)
    query = Query(
        match=Entity("events"), select=[Column("event_id"), Column("tags_key"), Column("tags_value")],
        where=[Condition(Column("project_id"), Op.IN, [7, 8]),
               Condition(Column("timestamp"), Op.GTE, start), Condition(Column("timestamp"), Op.LT, end)],
        orderby=[OrderBy(Column("event_id"), Direction.ASC), OrderBy(Column("tags_key"), Direction.ASC)],
        limit=Limit(5000),
    )  # fmt: skip
    rows = run(stack.snuba_url, native(query))["data"]
    expected = sorted((e.event_id, k, v) for e in stack.events for k, v in e.tags.items())
    assert len(expected) > 300
    assert [(r["event_id"], r["tags_key"], r["tags_value"]) for r in rows] == expected


def test_discover_style_string_functions(stack: Stack) -> None:
    start, end = window(stack)
    query = Query(
        match=Entity("events"),
        select=[Column("event_id"),
                Function("transform", [Function("toString", [Column("project_id")]),
                                       Function("array", ["7"]), Function("array", ["web"]), ""],
                         "project.name"),
                Function("substringUTF8", [Column("release"), 1, 5], "short"),
                Function("concat", [Column("release"), "-", Column("project_id")], "joined"),
                Function("replaceAll", [Column("release"), "@", "/"], "path"),
                Function("coalesce", [Column("email"), Column("username"), Column("user_id"),
                                      Column("ip_address")], "user.display")],
        where=[Condition(Column("project_id"), Op.IN, [7, 8]),
               Condition(Column("timestamp"), Op.GTE, start), Condition(Column("timestamp"), Op.LT, end)],
        orderby=[OrderBy(Column("timestamp"), Direction.ASC)], limit=Limit(1000),
    )  # fmt: skip
    rows = {r["event_id"]: r for r in run(stack.snuba_url, native(query))["data"]}
    for e in stack.events:
        assert rows[e.event_id] == {
            "event_id": e.event_id, "project.name": "web" if e.project == 7 else "",
            "short": e.release[:5], "joined": f"{e.release}-{e.project}",
            "path": e.release.replace("@", "/"), "user.display": e.user,
        }  # fmt: skip


def test_requests_of_a_real_sentry_on_this_data(stack: Stack) -> None:
    """Every body a real Sentry 23.7.1 sent (sentry-23.7-snql.jsonl), pointed at this data
    (project, group, time window): answered 200 with rows, the way Sentry reads them."""
    import json
    import re

    group = biggest_group(stack)
    start, end = window(stack)
    bodies = shapes.load_recorded_bodies()
    assert bodies
    for record in bodies:
        body = dict(record["body"])
        query = body["query"]
        times = iter([start.isoformat(), end.isoformat()])
        query = re.sub(r"toDateTime\('[^']*'\)", lambda _: f"toDateTime('{next(times, end.isoformat())}')", query)
        query = re.sub(r"project_id IN (tuple|array)\(1\)", r"project_id IN \1(7)", query)
        query = re.sub(r"group_id IN (tuple|array)\(1\)", rf"group_id IN \1({group})", query)
        query = query.replace("group_id = 1 ", f"group_id = {group} ")
        body["query"] = query
        response = requests.post(f"{stack.snuba_url}{record['path']}", data=json.dumps(body),
                                 headers={"referer": record["referer"]}, timeout=TIMEOUT)  # fmt: skip
        assert response.status_code == 200, (query, response.text[:500])
        answer = response.json()
        filtered = "tags[browser], '') = 'Chrome'" in query or "positionCaseInsensitive" in query
        if not filtered:
            assert answer["data"], query
        if body.get("totals"):
            assert set(answer["totals"]) == {m["name"] for m in answer["meta"]}


# ---------------------------------------------------------------------------------------------
# Repeated events (docs/schema.md §5, docs/queries.md): last, since it adds a log
# ---------------------------------------------------------------------------------------------


def test_a_repeated_event_counts_once_and_lists_once(stack: Stack) -> None:
    if stack.sls_port is None:
        pytest.skip("duplicates are injected with the SLS SDK, through sls-local")
    from aliyun.log import LogClient, LogItem, PutLogsRequest

    group = biggest_group(stack)
    events = sorted(groups_of(stack.events)[group], key=lambda e: -e.epoch)
    latest = events[0]
    client = LogClient(f"127.0.0.1:{stack.sls_port}", KEY_ID, KEY_SECRET)
    client._isRowIp = True  # noqa: SLF001 - raw-IP mode, sls-protocol.md §6.3
    found = client.get_log(SLS_PROJECT, LOGSTORE, latest.epoch, latest.epoch + 1,
                           query=f"event_id: {latest.event_id}", size=10).get_logs()  # fmt: skip
    assert len(found) == 1
    contents = [(k, v) for k, v in found[0].get_contents().items() if not k.startswith("__")]
    client.put_logs(PutLogsRequest(SLS_PROJECT, LOGSTORE, "sentry_error", "replay",
                                   [LogItem(timestamp=latest.epoch, contents=contents)]))  # fmt: skip

    start, end = window(stack)
    count_query = Query(
        match=Entity("events"),
        select=[Function("count", [], "count"), Function("uniq", [Column("event_id")], "events")],
        where=[Condition(Column("project_id"), Op.IN, [7]), Condition(Column("group_id"), Op.EQ, group),
               Condition(Column("timestamp"), Op.GTE, start), Condition(Column("timestamp"), Op.LT, end)],
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while len(client.get_log(SLS_PROJECT, LOGSTORE, latest.epoch, latest.epoch + 1,
                             query=f"event_id: {latest.event_id}", size=10).get_logs()) < 2:  # fmt: skip
        assert time.monotonic() < deadline, "the repeated log never became visible"
        time.sleep(0.2)
    # The store holds the event twice; aggregates count it once (issue 7) …
    assert run(stack.snuba_url, native(count_query))["data"] == [
        {"count": len(events), "events": len(events)}]
    # … row queries show each event once.
    query = Query(
        match=Entity("events"), select=[Column("event_id"), Column("timestamp")],
        where=[Condition(Column("group_id"), Op.EQ, group), Condition(Column("project_id"), Op.IN, [7]),
               Condition(Column("timestamp"), Op.GTE, start), Condition(Column("timestamp"), Op.LT, end)],
        orderby=[OrderBy(Column("timestamp"), Direction.DESC)], limit=Limit(3),
    )  # fmt: skip
    rows = run(stack.snuba_url, native(query, "api.group-events.error"))["data"]
    assert [row["event_id"] for row in rows] == [e.event_id for e in events[:3]]
