"""Acceptance: the Snuba query API answers what Sentry's Issues pages send.

Every request here is built with the PyPI package snuba-sdk (3.0.43, the version Sentry pins)
the way Sentry builds it, and sent the way Sentry sends it: `POST /{dataset}/snql` with the body
`Request.serialize()`, the header `referer: <referrer>` and no Content-Type.

Two request paths exist in Sentry, and both are covered:
  * legacy: a dict shaped like `sentry.utils.snuba._prepare_query_params` output, turned into a
    Request by `snuba_sdk.legacy.json_to_snql` (issue search, seen stats, tagstore, unhandled
    flag, event by id). These bodies carry `"legacy": true` and `app_id: "legacy"`, and their
    aggregations may be raw expression strings that the SDK passes through verbatim;
  * native: `Query(...)` objects (TSDB sparklines, eventstore latest/oldest/recommended and
    adjacent events, the group events list).

The shapes follow sentry-integration.md §3.2 in the shared reference (page → Sentry code →
query shape → referrer) and the Sentry functions named in each builder's docstring.

Tests (`-k render` runs the ones that need no server):
  * `test_render*`: the SDK builds and serialises every shape into a body Snuba's schema accepts;
  * `test_dry_run[...]`: every shape with `dry_run`: HTTP 200, `data == []`, `meta` a list;
  * `test_result_columns[...]`: the same shapes executed on an empty store: `meta` names must be
    the grouped then selected names (snuba-api.md §2.3), and `totals` must hold every aggregate
    alias when `TOTALS True` (Sentry reads `totals["total"]`);
  * `test_replay_sentry_23_7[...]`: every body a real Sentry 23.7.1 sent
    (`sentry-23.7-snql.jsonl`, path overridable with `$SENTRY_23_7_SNQL`), with dry_run;
  * `test_replay_sentry_23_7_executed[...]`: the same bodies executed, with the same `meta` and
    `totals` checks.

Run `python tests/integration/test_snuba_sdk.py` to print every rendered request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from snuba_sdk import (
    AliasedExpression,
    Column,
    Condition,
    CurriedFunction,
    Direction,
    Entity,
    Flags,
    Function,
    Granularity,
    Limit,
    Offset,
    Op,
    Or,
    OrderBy,
    Query,
    Request,
    Totals,
)
from snuba_sdk.legacy import json_to_snql

# --------------------------------------------------------------------------------------------
# The world the requests describe: one organisation, one project, two issues.
# --------------------------------------------------------------------------------------------

ORGANIZATION_ID = 1
PROJECT_ID = 2
GROUP_IDS = [10, 11]
GROUP_ID = GROUP_IDS[0]
ENVIRONMENT = "production"
EVENT_ID = "a3f1c2d4e5b60718293a4b5c6d7e8f90"
TAG_KEYS = ["browser", "environment", "release", "user"]

# Sentry's API transaction names, sent as `parent_api`.
ISSUES_API = "/api/0/organizations/{organization_id_or_slug}/issues/"
ISSUES_STATS_API = "/api/0/organizations/{organization_id_or_slug}/issues-stats/"
GROUP_API = "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/"
GROUP_TAGS_API = "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/tags/"
GROUP_TAG_VALUES_API = (
    "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/tags/{key}/values/"
)
GROUP_EVENTS_API = "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/events/"
GROUP_EVENT_API = (
    "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/events/{event_id}/"
)

# The keys Snuba's request schema accepts (snuba-api.md §1.2, `additionalProperties: false`).
# The SDK's `totals` flag is not among them: Sentry never sets it, TOTALS is a SnQL clause.
SNUBA_BODY_KEYS = {
    "query", "dataset", "app_id", "tenant_ids", "parent_api",
    "turbo", "consistent", "debug", "dry_run", "legacy",
    "referrer", "team", "feature",
}  # fmt: skip

REQUEST_TIMEOUT_SECONDS = 30


def recorded_bodies_path() -> Path:
    """`$SENTRY_23_7_SNQL`, else the repository's copy in tests/data, else shared/reference
    beside the repository."""
    explicit = os.environ.get("SENTRY_23_7_SNQL")
    if explicit:
        return Path(explicit)
    repo_root = Path(__file__).resolve().parents[2]
    in_repo = repo_root / "tests" / "data" / "sentry-23.7-snql.jsonl"
    if in_repo.is_file():
        return in_repo
    return repo_root.parent / "shared" / "reference" / "sentry-23.7-snql.jsonl"


RECORDED_BODIES_PATH = recorded_bodies_path()


def utc_now() -> datetime:
    """Naive UTC "now", as Sentry passes dates to Snuba (`naiveify_datetime`).

    Microseconds are kept on purpose: Sentry's datetime literals carry them
    (`toDateTime('2026-11-25T16:52:12.826552')`) and Snuba drops them.
    """
    return datetime.now(UTC).replace(tzinfo=None)


def floor_to(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.replace(tzinfo=UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# The two ways Sentry turns a query into a Request.
# --------------------------------------------------------------------------------------------


def legacy_request(
    *,
    referrer: str,
    parent_api: str,
    dry_run: bool,
    dataset: str = "events",
    start: datetime,
    end: datetime,
    filter_keys: dict[str, Sequence[Any]],
    conditions: Sequence[Any] = (),
    aggregations: Sequence[Any] = (),
    selected_columns: Sequence[Any] = (),
    groupby: Sequence[str] = (),
    **extra: Any,
) -> Request:
    """Build a Request the way `sentry.utils.snuba.bulk_raw_query` does.

    `_prepare_query_params` turns `SnubaQueryParams` into a legacy dict, then
    `snuba_sdk.legacy.json_to_snql(body, body["dataset"])` turns that into a Request:
      * `group_id` filter keys become a trailing `group_id IN (...)` condition
        (`SnubaQueryParams._preprocess_group_id_redirects`), the other filter keys
        `col IN (...)` conditions after the caller's own (environment ids are translated to
        names by Sentry; this helper takes names already);
      * the project ids also go to `project`, which json_to_snql renders as
        `project_id IN tuple(...)` right after the time range: hence the doubled project filter
        seen in real traffic;
      * start/end go to `from_date`/`to_date` as ISO strings;
      * `tenant_ids` gets the referrer; `consistent: False` (Sentry's OVERRIDE_OPTIONS default) is
        dropped by json_to_snql, which keeps only truthy flags and always adds `legacy: true`.
    `extra` carries the pass-through keys: having, orderby, limit, offset, totals, turbo,
    sample, limitby.
    """
    other_filter_keys = {key: values for key, values in filter_keys.items() if key != "group_id"}
    legacy_conditions = [list(condition) for condition in conditions]
    if "group_id" in filter_keys:
        legacy_conditions.append(["group_id", "IN", sorted(set(filter_keys["group_id"]))])
    for column, values in other_filter_keys.items():
        legacy_conditions.append([column, "IN", list(values)])

    body: dict[str, Any] = {
        "dataset": dataset,
        "from_date": start.isoformat(),
        "to_date": end.isoformat(),
        "groupby": list(groupby),
        "conditions": legacy_conditions,
        "aggregations": [list(aggregation) for aggregation in aggregations],
        "selected_columns": [
            list(column) if isinstance(column, (list, tuple)) else column
            for column in selected_columns
        ],
        "project": sorted(set(filter_keys["project_id"])),
        "tenant_ids": {"organization_id": ORGANIZATION_ID, "referrer": referrer},
        "consistent": False,
        **extra,
    }
    if dry_run:
        body["dry_run"] = True
    request = json_to_snql(body, body["dataset"])
    request.parent_api = parent_api
    return request


def native_request(
    *,
    referrer: str,
    parent_api: str,
    dry_run: bool,
    dataset: str,
    app_id: str,
    query: Query,
    turbo: bool | None = None,
) -> Request:
    """Build a Request the way Sentry's SnQL callers do, then apply what
    `bulk_snuba_queries_with_referrers` / `_apply_cache_and_build_results` add before sending:
    `flags.consistent = False` (OVERRIDE_OPTIONS), `tenant_ids.referrer` and `parent_api`.
    """
    request = Request(
        dataset=dataset,
        app_id=app_id,
        query=query,
        flags=Flags(consistent=False, turbo=turbo, dry_run=True if dry_run else None),
        tenant_ids={"organization_id": ORGANIZATION_ID},
    )
    request.tenant_ids["referrer"] = referrer
    request.parent_api = parent_api
    return request


# --------------------------------------------------------------------------------------------
# Issues list (PostgresSnubaQueryExecutor.snuba_search, sentry/search/snuba/executors.py).
# --------------------------------------------------------------------------------------------

# `aggregation_defs`: alias → legacy aggregation. Expression strings go through json_to_snql
# untouched, so the server sees Sentry's text verbatim.
ISSUE_AGGREGATIONS: dict[str, list[str]] = {
    "times_seen": ["count()", ""],
    "first_seen": ["multiply(toUInt64(min(coalesce(group_first_seen, timestamp))), 1000)", ""],
    "last_seen": ["multiply(toUInt64(max(timestamp)), 1000)", ""],
    "user_count": ["uniq", "tags[sentry:user]"],
    "total": ["uniq", "group_id"],
}

# `sort_strategies`: the `?sort=` value → the aggregate alias ordered on.
SORT_FIELDS = {"date": "last_seen", "freq": "times_seen", "new": "first_seen", "user": "user_count"}


def trends_aggregation(start: datetime, end: datetime) -> list[str]:
    """The `trends` sort score (`trends_aggregation_impl`, v2, not normalised) with
    `DEFAULT_TRENDS_WEIGHTS`. Its text uses infix arithmetic inside function arguments
    (`now() - timestamp`), `now()`, `pow`, `log`, `multiIf` and `countIf`."""
    log_level_weight, stacktrace_weight, relative_volume_weight = 0, 0, 1
    event_halflife_hours, issue_halflife_hours = 4, 12
    event_age_weight, issue_age_weight, min_score, max_pow = 1, 1, 0.01, 16

    event_age_hours = "divide(now() - timestamp, 3600)"
    issue_age_hours = "divide(now() - min(timestamp), 3600)"
    log_level_score = (
        "multiIf(equals(level, 'fatal'), 1.0, equals(level, 'error'), 0.66, "
        "equals(level, 'warning'), 0.33, 0.0)"
    )
    stacktrace_score = "if(notEmpty(exception_stacks.type), 1.0, 0.0)"
    event_rank = (
        f"divide(plus(plus(multiply({log_level_score}, {log_level_weight}), "
        f"multiply({stacktrace_score}, {stacktrace_weight})), {event_age_weight}), "
        f"plus(plus({log_level_weight}, {stacktrace_weight}), {event_age_weight}))"
    )
    issue_score = (
        f"greatest({min_score}, divide({issue_age_weight}, pow(2, least({max_pow}, "
        f"divide({issue_age_hours}, {issue_halflife_hours})))))"
    )
    event_score = (
        f"log(plus(1, sum(divide({event_rank}, pow(2, divide({event_age_hours}, "
        f"{event_halflife_hours}))))))"
    )
    if (end - start).days >= 7:
        overall_seconds, recent_seconds = 3600 * 24 * 7, 3600
    else:
        overall_seconds = int((end - start).total_seconds())
        recent_seconds = overall_seconds // 100
    recent_count = f"countIf(lessOrEquals(minus(now(), timestamp), {recent_seconds}))"
    overall_count = f"countIf(lessOrEquals(minus(now(), timestamp), {overall_seconds}))"
    relative_volume = (
        f"divide(multiply({relative_volume_weight}, divide({recent_count}, "
        f"plus({overall_count}, 1))), 10)"
    )
    return [
        f"multiply(multiply({issue_score}, greatest({min_score}, {event_score})), "
        f"greatest({min_score}, {relative_volume}))",
        "",
    ]


def issue_search_request(
    *,
    dry_run: bool,
    sort_field: str,
    dataset: str = "events",
    cursor: tuple[int, bool] | None = None,
    get_sample: bool = False,
    search_conditions: Sequence[Any] = (),
    with_environment: bool = True,
    limit: int = 150,
) -> Request:
    """One `snuba_search` chunk for the error category (`_query_params_for_error`).

    `cursor` is `(value, is_prev)`; it becomes `HAVING <sort> <= value` (`>=` when is_prev).
    `get_sample` is the hit-count estimate: `cityHash64('<md5 of conditions>[:8]', group_id)
    AS sample`, `ORDER BY sample`, turbo, referrer `search.group_index_sample`, no candidates.
    `dataset="discover"` is what Sentry 23.7 sends; 25.9 sends `events`.
    """
    end = utc_now()
    start = end - timedelta(days=14)
    referrer = "search.group_index_sample" if get_sample else "search.group_index"

    # Search-filter conditions come first, then the category condition `event.type !=
    # transaction`, which the column resolver turns into `type`.
    conditions = [*search_conditions, ["type", "!=", "transaction"]]

    # Sentry collects the required aliases in a set, so their order varies between processes;
    # here it is fixed: the sort field, its dependencies, then `total`.
    aliases = [sort_field]
    if sort_field == "trends":
        aliases += ["last_seen", "times_seen"]
    aliases.append("total")
    aggregations = []
    for alias in aliases:
        definition = (
            trends_aggregation(start, end) if alias == "trends" else ISSUE_AGGREGATIONS[alias]
        )
        aggregations.append([*definition, alias])

    having = []
    if cursor is not None:
        cursor_value, is_prev = cursor
        having.append([sort_field, ">=" if is_prev else "<=", cursor_value])

    selected_columns: list[Any] = []
    if get_sample:
        query_hash = hashlib.md5(json.dumps(conditions).encode("utf-8")).hexdigest()[:8]
        selected_columns.append(["cityHash64", [f"'{query_hash}'", "group_id"], "sample"])
        orderby = ["sample"]
    else:
        orderby = [f"-{sort_field}", "group_id"]

    filter_keys: dict[str, Sequence[Any]] = {}
    if not get_sample:
        # Few enough Postgres candidates: they are passed down as `group_id IN (...)`.
        filter_keys["group_id"] = GROUP_IDS
    filter_keys["project_id"] = [PROJECT_ID]
    if with_environment:
        filter_keys["environment"] = [ENVIRONMENT]

    return legacy_request(
        referrer=referrer,
        parent_api=ISSUES_API,
        dry_run=dry_run,
        dataset=dataset,
        start=start,
        end=end,
        filter_keys=filter_keys,
        conditions=conditions,
        aggregations=aggregations,
        selected_columns=selected_columns,
        groupby=["group_id"],
        having=having,
        orderby=orderby,
        limit=100 if get_sample else limit,
        offset=0,
        totals=True,  # Snuba must answer totals.total
        turbo=get_sample,  # json_to_snql drops it when False
        sample=1,  # SAMPLE 1.0: no ClickHouse sampling even in turbo mode
    )


# Search filters as `format_search_filter` renders them in the legacy format.
TAG_FILTER = [["ifNull", ["tags[browser]", "''"]], "=", "Chrome"]
MESSAGE_FILTER = [["positionCaseInsensitive", ["message", "'ZeroDivision'"]], "!=", 0]


def build_issue_list_date(dry_run: bool) -> Request:
    """Sort "date", second page (cursor), with a tag filter and free-text search."""
    return issue_search_request(
        dry_run=dry_run,
        sort_field=SORT_FIELDS["date"],
        cursor=(int(utc_now().timestamp()) * 1000, False),
        search_conditions=[TAG_FILTER, MESSAGE_FILTER],
    )


def build_issue_list_freq(dry_run: bool) -> Request:
    """Sort "freq", paging backwards (a prev cursor gives `HAVING times_seen >= n`)."""
    return issue_search_request(dry_run=dry_run, sort_field=SORT_FIELDS["freq"], cursor=(42, True))


def build_issue_list_new(dry_run: bool) -> Request:
    """Sort "new": first_seen uses `coalesce(group_first_seen, timestamp)`."""
    return issue_search_request(
        dry_run=dry_run,
        sort_field=SORT_FIELDS["new"],
        cursor=(int(utc_now().timestamp()) * 1000, False),
    )


def build_issue_list_user(dry_run: bool) -> Request:
    """Sort "user": `uniq(tags[sentry:user])`."""
    return issue_search_request(dry_run=dry_run, sort_field=SORT_FIELDS["user"], cursor=(3, False))


def build_issue_list_trends(dry_run: bool) -> Request:
    """Sort "trends": a long score expression plus last_seen and times_seen."""
    return issue_search_request(dry_run=dry_run, sort_field="trends")


def build_issue_list_discover(dry_run: bool) -> Request:
    """Sentry 23.7's form of the first page: `MATCH (discover SAMPLE 1.0)` on /discover/snql."""
    return issue_search_request(
        dry_run=dry_run, sort_field="last_seen", dataset="discover", with_environment=False
    )


def build_issue_list_hits_sample(dry_run: bool) -> Request:
    """The hit-count estimate (`calculate_hits` → `snuba_search(get_sample=True)`)."""
    return issue_search_request(
        dry_run=dry_run, sort_field=SORT_FIELDS["date"], get_sample=True, limit=100
    )


# --------------------------------------------------------------------------------------------
# Issues list / issues-stats serialisers (sentry/api/serializers/models/group.py).
# --------------------------------------------------------------------------------------------


def build_seen_stats(dry_run: bool) -> Request:
    """`GroupSerializerSnuba._execute_error_seen_stats_query`: count, first/last seen, users."""
    end = utc_now()
    return legacy_request(
        referrer="serializers.GroupSerializerSnuba._execute_error_seen_stats_query",
        parent_api=ISSUES_STATS_API,
        dry_run=dry_run,
        start=end - timedelta(days=14),
        end=end,
        filter_keys={
            "project_id": [PROJECT_ID],
            "group_id": GROUP_IDS,
            "environment": [ENVIRONMENT],
        },
        aggregations=[
            ["count()", "", "times_seen"],
            ["min", "timestamp", "first_seen"],
            ["max", "timestamp", "last_seen"],
            ["uniq", "tags[sentry:user]", "count"],
        ],
        groupby=["group_id"],
    )


def build_unhandled_flag(dry_run: bool) -> Request:
    """`GroupSerializerBase._get_group_snuba_stats`: the "Unhandled" badge. The selected
    column is a nested legacy expression; no end date, so Sentry uses now + 1 s."""
    now = utc_now()
    return legacy_request(
        referrer="group.unhandled-flag",
        parent_api=ISSUES_API,
        dry_run=dry_run,
        start=now - timedelta(days=14),
        end=now + timedelta(seconds=1),
        filter_keys={"project_id": [PROJECT_ID], "group_id": GROUP_IDS},
        selected_columns=[
            "group_id",
            [
                "argMax",
                [["has", ["exception_stacks.mechanism_handled", 0]], "timestamp"],
                "unhandled",
            ],
        ],
        groupby=["group_id"],
        orderby="group_id",
    )


def sparkline_request(dry_run: bool, rollup: int, buckets: int, parent_api: str) -> Request:
    """`SnubaTSDB.__get_data_snql` for `TSDBModel.group` (model id 4): the magic `time`
    column, bucketed by GRANULARITY; app_id `tsdb.get_data`."""
    end = floor_to(utc_now(), rollup) + timedelta(seconds=rollup)
    start = end - timedelta(seconds=rollup * buckets)
    query = Query(
        match=Entity("events"),
        select=[Function("count", [], "aggregate")],
        where=[
            # Filter keys: the model's group ids, environment names, inferred project ids.
            Condition(Column("group_id"), Op.IN, GROUP_IDS),
            Condition(Column("environment"), Op.IN, [ENVIRONMENT]),
            Condition(Column("project_id"), Op.IN, [PROJECT_ID]),
            Condition(Column("timestamp"), Op.GTE, start),
            Condition(Column("timestamp"), Op.LT, end),
        ],
        groupby=[Column("group_id"), Column("time")],
        orderby=[
            OrderBy(Column("time"), Direction.DESC),
            OrderBy(Column("group_id"), Direction.ASC),
        ],
        granularity=Granularity(rollup),
        limit=Limit(min(10000, len(GROUP_IDS) * buckets)),
    )
    return native_request(
        referrer="tsdb-modelid:4",
        parent_api=parent_api,
        dry_run=dry_run,
        dataset="events",
        app_id="tsdb.get_data",
        query=query,
    )


def build_sparkline_hourly(dry_run: bool) -> Request:
    """`stats.24h` on the list and the issue details header: 24 hourly buckets."""
    return sparkline_request(dry_run, rollup=3600, buckets=24, parent_api=ISSUES_STATS_API)


def build_sparkline_daily(dry_run: bool) -> Request:
    """`stats.30d` on the issue details header: 30 daily buckets."""
    return sparkline_request(dry_run, rollup=86400, buckets=30, parent_api=GROUP_API)


# --------------------------------------------------------------------------------------------
# Tags (sentry/tagstore/snuba/backend.py, all through the legacy `snuba.query`).
# --------------------------------------------------------------------------------------------


def tag_window() -> tuple[datetime, datetime]:
    """Per-issue windows start at the Group's first_seen - 5 min (`shrink_time_window`)."""
    end = utc_now()
    return end - timedelta(days=3, minutes=5), end


def build_tag_keys(dry_run: bool) -> Request:
    """`get_group_tag_keys` → `__get_tag_keys_for_projects`: keys by event count."""
    start, end = tag_window()
    return legacy_request(
        referrer="tagstore.__get_tag_keys",
        parent_api=GROUP_API,
        dry_run=dry_run,
        start=start,
        end=end,
        filter_keys={"project_id": [PROJECT_ID], "group_id": [GROUP_ID]},
        aggregations=[["count()", "", "count"]],
        groupby=["tags_key"],
        orderby="-count",
        limit=100,
    )


def build_tag_keys_top_values(dry_run: bool) -> Request:
    """`get_group_tag_keys_and_top_values`, part 2: top values per key with LIMIT n BY."""
    start, end = tag_window()
    return legacy_request(
        referrer="tagstore._get_tag_keys_and_top_values",
        parent_api=GROUP_TAGS_API,
        dry_run=dry_run,
        start=start,
        end=end,
        filter_keys={
            "project_id": [PROJECT_ID],
            "environment": [ENVIRONMENT],
            "tags_key": TAG_KEYS,
            "group_id": [GROUP_ID],
        },
        aggregations=[
            ["count()", "", "count"],
            ["min", "timestamp", "first_seen"],
            ["max", "timestamp", "last_seen"],
        ],
        groupby=["tags_key", "tags_value"],
        orderby="-count",
        limitby=[9, "tags_key"],
    )


def build_tag_keys_empty_counts(dry_run: bool) -> Request:
    """`get_group_tag_keys_and_top_values`, part 3: per key, how many events lack a value.
    One `countIf(equals(tags[k], ''))` per key, no BY."""
    start, end = tag_window()
    return legacy_request(
        referrer="tagstore._get_tag_keys_and_top_values_empty_counts",
        parent_api=GROUP_TAGS_API,
        dry_run=dry_run,
        start=start,
        end=end,
        filter_keys={"project_id": [PROJECT_ID], "group_id": [GROUP_ID]},
        aggregations=[
            ["countIf", [["equals", [f"tags[{key}]", "''"]]], f"cnt_{index}"]
            for index, key in enumerate(TAG_KEYS)
        ],
    )


def build_tag_key_one(dry_run: bool) -> Request:
    """`get_group_tag_key` → `__get_tag_key_and_top_values`: one key's top values, BY the
    subscripted tag column, with TOTALS for `values_seen`/`count` across all values."""
    start, end = tag_window()
    tag = "tags[browser]"
    return legacy_request(
        referrer="tagstore.__get_tag_key_and_top_values",
        parent_api=GROUP_API,
        dry_run=dry_run,
        start=start,
        end=end,
        filter_keys={"project_id": [PROJECT_ID], "group_id": [GROUP_ID]},
        conditions=[[tag, "!=", ""]],
        aggregations=[
            ["uniq", tag, "values_seen"],
            ["count()", "", "count"],
            ["min", "timestamp", "first_seen"],
            ["max", "timestamp", "last_seen"],
        ],
        groupby=[tag],
        orderby="-count",
        limit=9,  # TOP_VALUES_DEFAULT_LIMIT
        totals=True,
    )


def build_tag_values(dry_run: bool) -> Request:
    """`get_group_tag_value_paginator` → `get_group_tag_value_iter`: every value of one key,
    BY `tags_value` with a `tags_key` filter key, most recently seen first."""
    start, end = tag_window()
    return legacy_request(
        referrer="tagstore.get_group_tag_value_iter",
        parent_api=GROUP_TAG_VALUES_API,
        dry_run=dry_run,
        start=start,
        end=end,
        filter_keys={"project_id": [PROJECT_ID], "tags_key": ["browser"], "group_id": [GROUP_ID]},
        aggregations=[
            ["count()", "", "times_seen"],
            ["min", "timestamp", "first_seen"],
            ["max", "timestamp", "last_seen"],
        ],
        groupby=["tags_value"],
        orderby="-last_seen",
        limit=1000,
        offset=0,
    )


def build_users_affected(dry_run: bool) -> Request:
    """`get_groups_user_counts`: distinct users per issue over the retention window."""
    end = utc_now()
    return legacy_request(
        referrer="tagstore.get_groups_user_counts",
        parent_api=GROUP_API,
        dry_run=dry_run,
        start=end - timedelta(days=90),
        end=end + timedelta(seconds=1),
        filter_keys={"project_id": [PROJECT_ID], "group_id": GROUP_IDS},
        aggregations=[["uniq", "tags[sentry:user]", "count"]],
        groupby=["group_id"],
        orderby="-count",
    )


# --------------------------------------------------------------------------------------------
# Events of an issue (sentry/services/eventstore/snuba/backend.py, sentry/models/group.py).
# --------------------------------------------------------------------------------------------

# `EventStorage.minimal_columns[Dataset.Events]`.
EVENT_COLUMNS = ["event_id", "group_id", "project_id", "timestamp", "timestamp_ms"]


def eventstore_order(direction: Direction) -> list[OrderBy]:
    """`get_events_snql` resolves the ordering `[project_id, timestamp, event_id]`, and expands
    `timestamp` to `toStartOfDay(timestamp), timestamp` (the errors table's sort key)."""
    return [
        OrderBy(Column("project_id"), direction),
        OrderBy(Function("toStartOfDay", [Column("timestamp")]), direction),
        OrderBy(Column("timestamp"), direction),
        OrderBy(Column("event_id"), direction),
    ]


def latest_or_oldest_request(dry_run: bool, direction: Direction) -> Request:
    """`Group.get_latest_event` / `get_oldest_event` → `get_events_snql`, app_id eventstore."""
    end = utc_now() + timedelta(seconds=1)
    start = end - timedelta(days=3, minutes=5)
    query = Query(
        match=Entity("events"),
        select=[Column(column) for column in EVENT_COLUMNS],
        where=[
            Condition(Column("timestamp"), Op.GTE, start),
            Condition(Column("timestamp"), Op.LT, end),
            Condition(Column("project_id"), Op.IN, [PROJECT_ID]),
            Condition(Column("group_id"), Op.IN, [GROUP_ID]),
        ],
        orderby=eventstore_order(direction),
        limit=Limit(1),
        offset=Offset(0),
    )
    return native_request(
        referrer="Group.get_latest",
        parent_api=GROUP_EVENT_API,
        dry_run=dry_run,
        dataset="events",
        app_id="eventstore",
        query=query,
    )


def build_latest_event(dry_run: bool) -> Request:
    return latest_or_oldest_request(dry_run, Direction.DESC)


def build_oldest_event(dry_run: bool) -> Request:
    return latest_or_oldest_request(dry_run, Direction.ASC)


def build_recommended_event(dry_run: bool) -> Request:
    """`Group.get_recommended_event` → `get_events_snql(inner_limit=1000)`: the 1000 newest
    events in `[last_seen + 1 min - 7 d, last_seen + 1 min)` in a subquery, then the most
    helpful one (replay, sampled trace, fewest processing errors, profile, newest).

    Sentry selects `set(columns) | order_by_columns` in the inner query, so that column order
    differs between Sentry processes; the server must not depend on it. Here it is fixed.
    """
    last_seen = utc_now() - timedelta(hours=1)
    end = last_seen + timedelta(minutes=1)
    start = end - timedelta(days=7)
    inner_columns = [*EVENT_COLUMNS, "replay_id", "trace_sampled", "num_processing_errors",
                     "profile_id"]  # fmt: skip
    inner_query = Query(
        match=Entity("events"),
        select=[Column(column) for column in inner_columns],
        where=[
            Condition(Column("timestamp"), Op.GTE, start),
            Condition(Column("timestamp"), Op.LT, end),
            Condition(Column("project_id"), Op.IN, [PROJECT_ID]),
            Condition(Column("group_id"), Op.IN, [GROUP_ID]),
        ],
        orderby=[
            OrderBy(Column("timestamp"), Direction.DESC),
            OrderBy(Column("event_id"), Direction.DESC),
        ],
        limit=Limit(1000),
    )

    def present_first(column: str) -> Function:
        return Function("if", [Function("isNull", [Column(column)]), 0, 1])

    outer_query = Query(
        match=inner_query,
        select=[Column(column) for column in EVENT_COLUMNS],
        orderby=[
            OrderBy(present_first("replay_id"), Direction.DESC),
            OrderBy(Function("coalesce", [Column("trace_sampled"), -1]), Direction.DESC),
            OrderBy(
                Function("coalesce", [Column("num_processing_errors"), 99999999]), Direction.ASC
            ),
            OrderBy(present_first("profile_id"), Direction.DESC),
            OrderBy(Function("toStartOfDay", [Column("timestamp")]), Direction.DESC),
            OrderBy(Column("timestamp"), Direction.DESC),
            OrderBy(Column("event_id"), Direction.DESC),
        ],
        limit=Limit(1),
        offset=Offset(0),
    )
    return native_request(
        referrer="Group.get_helpful",
        parent_api=GROUP_EVENT_API,
        dry_run=dry_run,
        dataset="events",
        app_id="eventstore",
        query=outer_query,
    )


def build_event_by_id(dry_run: bool) -> Request:
    """`SnubaEventStorage.get_event_by_id` after a nodestore hit: the event's own second,
    to learn its group_id. For an event younger than an hour Sentry adds a random
    `timestamp > <random past date>` condition to bust Snuba's cache."""
    event_time = utc_now().replace(microsecond=0) - timedelta(minutes=5)
    cache_buster = datetime(2001, 9, 9, 1, 46, 40)
    return legacy_request(
        referrer="eventstore.backend.get_event_by_id_nodestore",
        parent_api=GROUP_EVENT_API,
        dry_run=dry_run,
        start=event_time,
        end=event_time + timedelta(seconds=1),
        filter_keys={"project_id": [PROJECT_ID], "event_id": [EVENT_ID], "group_id": [GROUP_ID]},
        conditions=[["timestamp", ">", cache_buster]],
        selected_columns=EVENT_COLUMNS,
        limit=1,
    )


def adjacent_event_request(dry_run: bool, is_prev: bool) -> Request:
    """`get_adjacent_event_ids_snql`: the event just before (or after) the one shown, with
    an `OR` tie-break on event_id; Sentry sends both in one bulk call."""
    event_time = utc_now().replace(microsecond=0) - timedelta(hours=2)
    constant_conditions = [
        Condition(Column("environment"), Op.IN, [ENVIRONMENT]),
        Condition(Column("group_id"), Op.EQ, GROUP_ID),
        Condition(Column("project_id"), Op.EQ, PROJECT_ID),
    ]
    if is_prev:
        time_conditions = [
            Condition(Column("timestamp"), Op.GTE, event_time - timedelta(days=100)),
            Condition(Column("timestamp"), Op.LT, event_time + timedelta(seconds=1)),
            Or(
                [
                    Condition(Column("timestamp"), Op.LT, event_time),
                    Condition(Column("event_id"), Op.LT, EVENT_ID),
                ]
            ),
        ]
    else:
        time_conditions = [
            Condition(Column("timestamp"), Op.LT, event_time + timedelta(days=100)),
            Condition(Column("timestamp"), Op.GTE, event_time),
            Or(
                [
                    Condition(Column("event_id"), Op.GT, EVENT_ID),
                    Condition(Column("timestamp"), Op.GT, event_time),
                ]
            ),
        ]
    direction = Direction.DESC if is_prev else Direction.ASC
    query = Query(
        match=Entity("events"),
        select=[Column("event_id"), Column("project_id")],
        where=[*constant_conditions, *time_conditions],
        orderby=eventstore_order(direction),
        limit=Limit(1),
    )
    return native_request(
        referrer="eventstore.get_next_or_prev_event_id_snql",
        parent_api=GROUP_EVENT_API,
        dry_run=dry_run,
        dataset="events",
        app_id="eventstore",
        query=query,
    )


def build_adjacent_prev(dry_run: bool) -> Request:
    return adjacent_event_request(dry_run, is_prev=True)


def build_adjacent_next(dry_run: bool) -> Request:
    return adjacent_event_request(dry_run, is_prev=False)


def build_group_events(dry_run: bool) -> Request:
    """The Events tab: `GroupEventsEndpoint` → `DiscoverQueryBuilder` with fields id,
    project.id, issue.id, timestamp, ordered -timestamp; public aliases come back as result
    names (`event_id AS id`, `project_id AS project.id`)."""
    end = utc_now()
    query = Query(
        match=Entity("events"),
        select=[
            Function("coalesce", [Column("group_id"), 0], "issue.id"),
            AliasedExpression(Column("event_id"), "id"),
            AliasedExpression(Column("project_id"), "project.id"),
            Column("timestamp"),
        ],
        where=[
            Condition(Column("group_id"), Op.EQ, GROUP_ID),
            Condition(Column("timestamp"), Op.GTE, end - timedelta(days=90)),
            Condition(Column("timestamp"), Op.LT, end),
            Condition(Column("project_id"), Op.IN, [PROJECT_ID]),
        ],
        orderby=[OrderBy(Column("timestamp"), Direction.DESC)],
        limit=Limit(101),
        offset=Offset(0),
    )
    return native_request(
        referrer="api.group-events.error",
        parent_api=GROUP_EVENTS_API,
        dry_run=dry_run,
        dataset="events",
        app_id="default",
        query=query,
        turbo=False,
    )


# --------------------------------------------------------------------------------------------
# The shape table.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One query shape of sentry-integration.md §3.2."""

    name: str
    build: Callable[[bool], Request]
    """dry_run → Request."""
    features: tuple[str, ...] = field(default_factory=tuple)
    """SnQL fragments that are the point of this shape; the render test checks they appear."""


SHAPES = [
    Shape("issue_list_date", build_issue_list_date,
          ("MATCH (events SAMPLE 1.0)", "HAVING last_seen <= ", "TOTALS True",
           "ifNull(tags[browser], '') = 'Chrome'", "positionCaseInsensitive(message, ")),
    Shape("issue_list_freq", build_issue_list_freq, ("HAVING times_seen >= 42", "TOTALS True")),
    Shape("issue_list_new", build_issue_list_new,
          ("min(coalesce(group_first_seen, timestamp))", "HAVING first_seen <= ")),
    Shape("issue_list_user", build_issue_list_user,
          ("uniq(tags[sentry:user]) AS `user_count`", "HAVING user_count <= 3")),
    Shape("issue_list_trends", build_issue_list_trends, ("now() - timestamp", "countIf(")),
    Shape("issue_list_discover_23_7", build_issue_list_discover, ("MATCH (discover SAMPLE 1.0)",)),
    Shape("issue_list_hits_sample", build_issue_list_hits_sample,
          ("cityHash64('", "ORDER BY sample ASC", "LIMIT 100")),
    Shape("seen_stats", build_seen_stats,
          ("uniq(tags[sentry:user]) AS `count`", "environment IN tuple('production')")),
    Shape("unhandled_flag", build_unhandled_flag,
          ("argMax(has(exception_stacks.mechanism_handled, 0), timestamp) AS `unhandled`",)),
    Shape("sparkline_hourly", build_sparkline_hourly,
          ("BY group_id, time", "ORDER BY time DESC", "GRANULARITY 3600")),
    Shape("sparkline_daily", build_sparkline_daily, ("BY group_id, time", "GRANULARITY 86400")),
    Shape("tag_keys", build_tag_keys, ("BY tags_key", "ORDER BY count DESC")),
    Shape("tag_keys_top_values", build_tag_keys_top_values,
          ("BY tags_key, tags_value", "LIMIT 9 BY tags_key")),
    Shape("tag_keys_empty_counts", build_tag_keys_empty_counts,
          ("countIf(equals(tags[browser], '')) AS `cnt_0`",)),
    Shape("tag_key_one", build_tag_key_one, ("BY tags[browser]", "TOTALS True")),
    Shape("tag_values", build_tag_values, ("BY tags_value", "tags_key IN tuple('browser')")),
    Shape("users_affected", build_users_affected, ("ORDER BY count DESC",)),
    Shape("latest_event", build_latest_event,
          ("ORDER BY project_id DESC, toStartOfDay(timestamp) DESC",)),
    Shape("oldest_event", build_oldest_event,
          ("ORDER BY project_id ASC, toStartOfDay(timestamp) ASC",)),
    Shape("recommended_event", build_recommended_event,
          ("MATCH { MATCH (events)", "LIMIT 1000 }", "if(isNull(replay_id), 0, 1) DESC",
           "coalesce(num_processing_errors, 99999999) ASC")),
    Shape("event_by_id", build_event_by_id, ("event_id IN tuple('", "LIMIT 1")),
    Shape("adjacent_prev", build_adjacent_prev, ("(timestamp < ", " OR event_id < ")),
    Shape("adjacent_next", build_adjacent_next, ("(event_id > ", " OR timestamp > ")),
    Shape("group_events", build_group_events,
          ("event_id AS `id`", "project_id AS `project.id`", "ORDER BY timestamp DESC")),
]  # fmt: skip

SHAPE_IDS = [shape.name for shape in SHAPES]


# --------------------------------------------------------------------------------------------
# Helpers shared by the tests.
# --------------------------------------------------------------------------------------------


def referrer_of(request: Request) -> str:
    return str(request.tenant_ids["referrer"])


def post_snql(snuba_url: str, request: Request) -> requests.Response:
    """Send as Sentry's `_snuba_query` does: the serialised body as bytes (so no
    Content-Type), and the referrer in a `referer` header."""
    return post_body(snuba_url, f"/{request.dataset}/snql", request.serialize(),
                     referrer_of(request))  # fmt: skip


def post_body(snuba_url: str, path: str, body: str, referrer: str) -> requests.Response:
    response = requests.post(
        f"{snuba_url}{path}",
        data=body.encode("utf-8"),
        headers={"referer": referrer},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert "Content-Type" not in response.request.headers
    return response


def json_body(response: requests.Response, body: str) -> dict[str, Any]:
    """The response as JSON, with the request and answer in the message when it is not 200."""
    assert response.status_code == 200, (
        f"HTTP {response.status_code} for {response.request.url}\n"
        f"request: {body}\nresponse: {response.text[:2000]}"
    )
    try:
        payload = response.json()
    except ValueError as error:  # Sentry raises UnexpectedResponseError here
        raise AssertionError(f"not JSON: {response.text[:2000]!r}") from error
    assert isinstance(payload, dict), payload
    return payload


def result_name(expression: Any) -> str:
    """The result-column name Snuba gives a SELECT/BY expression (snuba-api.md §2.3): the
    alias, else the expression's source text, which for a plain column is its name."""
    if isinstance(expression, AliasedExpression):
        return expression.alias or expression.exp.name
    if isinstance(expression, (Function, CurriedFunction)):
        assert expression.alias, f"unaliased function {expression!r}: name its text instead"
        return expression.alias
    if isinstance(expression, Column):
        return expression.name
    raise TypeError(f"no result name for {expression!r}")


def expected_result_names(query: Query) -> list[str]:
    """BY expressions first, then SELECT, duplicates collapsed to their first place."""
    names: list[str] = []
    for expression in [*(query.groupby or []), *(query.select or [])]:
        name = result_name(expression)
        if name not in names:
            names.append(name)
    return names


def aggregate_aliases(query: Query) -> list[str]:
    """Aliases of the SELECTed functions: what a TOTALS row must carry."""
    return [
        expression.alias
        for expression in query.select or []
        if isinstance(expression, (Function, CurriedFunction)) and expression.alias
    ]


def is_aggregate_without_by(query: Query) -> bool:
    """No BY and only (aliased) function calls selected: in these shapes, only aggregates."""
    select = query.select or []
    return (
        not query.groupby
        and bool(select)
        and all(isinstance(expression, (Function, CurriedFunction)) for expression in select)
    )


def load_recorded_bodies() -> list[dict[str, Any]]:
    """`sentry-23.7-snql.jsonl`: one `{"path", "referer", "body"}` object a line."""
    if not RECORDED_BODIES_PATH.is_file():
        return []
    with RECORDED_BODIES_PATH.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


RECORDED = load_recorded_bodies()
# A missing recording file must fail the replay tests, not turn them into an empty (skipped)
# parameter set: it then yields one `None` case that fails with the reason.
RECORDED_PARAMS = [
    pytest.param(record, id=f"{index:02d}-{record['referer']}")
    for index, record in enumerate(RECORDED)
] or [pytest.param(None, id="recordings-missing")]
MISSING_RECORDINGS = f"no recorded bodies at {RECORDED_BODIES_PATH} (set SENTRY_23_7_SNQL)"

# The SDK always back-ticks aliases: `expr AS `alias``.
ALIAS_RE = re.compile(r" AS `([^`]+)`$")
# SELECT and BY lists of an SDK-rendered query on an entity (not a subquery); such queries
# always have a WHERE clause, since Snuba requires a time range.
SELECT_BY_RE = re.compile(r"^MATCH \([^)]*\) SELECT (?P<select>.+?)(?: BY (?P<by>.+?))? WHERE ")


def split_top_level(expressions: str) -> list[str]:
    """Split a rendered SELECT/BY list at commas outside parentheses and string literals."""
    parts, depth, start, in_string, index = [], 0, 0, False, 0
    while index < len(expressions):
        char = expressions[index]
        if in_string:
            if char == "\\":
                index += 1  # skip the escaped character
            elif char == "'":
                in_string = False
        elif char == "'":
            in_string = True
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(expressions[start:index].strip())
            start = index + 1
        index += 1
    parts.append(expressions[start:].strip())
    return parts


def snql_result_names(snql: str) -> list[str] | None:
    """Result names read from rendered SnQL (alias, else source text; BY first), for bodies
    that exist only as text. None for shapes this reader does not handle (subqueries)."""
    match = SELECT_BY_RE.match(snql)
    if match is None:
        return None
    names: list[str] = []
    for clause in (match.group("by"), match.group("select")):
        if clause is None:
            continue
        for expression in split_top_level(clause):
            alias = ALIAS_RE.search(expression)
            name = alias.group(1) if alias else expression
            if name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# Tests.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_render(shape: Shape) -> None:
    """No server: the SDK builds the shape, and the body is one Snuba's schema accepts."""
    for dry_run in (True, False):
        request = shape.build(dry_run)
        body = json.loads(request.serialize())
        assert set(body) <= SNUBA_BODY_KEYS, set(body) - SNUBA_BODY_KEYS
        assert body["query"].startswith("MATCH ")
        assert body["tenant_ids"]["organization_id"] == ORGANIZATION_ID
        assert body["tenant_ids"]["referrer"]
        assert body.get("dry_run", False) is dry_run
        for fragment in shape.features:
            assert fragment in body["query"], f"{fragment!r} not in {body['query']}"
        # The two ways of naming result columns agree (the text reader skips subqueries).
        from_text = snql_result_names(body["query"])
        assert from_text in (None, expected_result_names(request.query)), from_text


def test_render_covers_every_referrer_of_the_issue_pages() -> None:
    """The §3.2 referrers that reach Snuba's SnQL endpoint all have a shape here."""
    referrers = {referrer_of(shape.build(True)) for shape in SHAPES}
    assert referrers >= {
        "search.group_index",
        "search.group_index_sample",
        "serializers.GroupSerializerSnuba._execute_error_seen_stats_query",
        "group.unhandled-flag",
        "tsdb-modelid:4",
        "tagstore.__get_tag_keys",
        "tagstore._get_tag_keys_and_top_values",
        "tagstore._get_tag_keys_and_top_values_empty_counts",
        "tagstore.__get_tag_key_and_top_values",
        "tagstore.get_group_tag_value_iter",
        "tagstore.get_groups_user_counts",
        "Group.get_latest",
        "Group.get_helpful",
        "eventstore.backend.get_event_by_id_nodestore",
        "eventstore.get_next_or_prev_event_id_snql",
        "api.group-events.error",
    }


def test_render_recorded_bodies_are_present() -> None:
    """The replay test needs the recorded traffic; its absence is a failure, not a skip."""
    assert RECORDED, MISSING_RECORDINGS
    for record in RECORDED:
        assert record["path"] == f"/{record['body']['dataset']}/snql"
        assert record["body"]["query"].startswith("MATCH ")


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_dry_run(sentry_sls, shape: Shape) -> None:
    """Every shape parses and validates: dry_run answers 200 with no rows."""
    request = shape.build(True)
    body = request.serialize()
    payload = json_body(post_snql(sentry_sls.snuba_url, request), body)
    assert payload.get("data") == [], payload
    assert isinstance(payload.get("meta"), list), payload


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_result_columns(sentry_sls, shape: Shape) -> None:
    """Executed on an empty store, the answer still names every column.

    Sentry checks `meta` names against what it asked for (an empty `meta` raised
    `AssertionError: expected {'count', 'tags_key'}, got set()` in Sentry 23.7), and reads
    `totals["total"]` after an issue search (an empty `totals` raised `KeyError: 'total'`).
    """
    request = shape.build(False)
    body = request.serialize()
    payload = json_body(post_snql(sentry_sls.snuba_url, request), body)
    expected = expected_result_names(request.query)

    if is_aggregate_without_by(request.query):
        # ClickHouse answers an aggregation without GROUP BY with one row even when no event
        # matches, and Sentry's callers without BY read that row. Every such shape here
        # counts, so the row is all zeros.
        assert payload.get("data") == [dict.fromkeys(expected, 0)], payload
    else:
        assert payload.get("data") == [], payload

    meta = payload.get("meta")
    assert isinstance(meta, list), payload
    assert all(isinstance(column, dict) and {"name", "type"} <= set(column) for column in meta)
    names = [column["name"] for column in meta]
    assert names == expected, f"meta names {names} != {expected} (BY first)\nrequest: {body}"

    query = request.query
    if isinstance(query.totals, Totals) and query.totals.totals:
        totals = payload.get("totals")
        assert isinstance(totals, dict), payload
        missing = set(aggregate_aliases(query)) - set(totals)
        assert not missing, f"totals lacks {sorted(missing)}: {totals}"


@pytest.mark.parametrize("record", RECORDED_PARAMS)
def test_replay_sentry_23_7(sentry_sls, record: dict[str, Any]) -> None:
    """A body a real Sentry 23.7.1 sent, replayed to its recorded path with dry_run."""
    assert record is not None, MISSING_RECORDINGS
    body = json.dumps({**record["body"], "dry_run": True})
    response = post_body(sentry_sls.snuba_url, record["path"], body, record["referer"])
    payload = json_body(response, body)
    assert payload.get("data") == [], payload
    assert isinstance(payload.get("meta"), list), payload


@pytest.mark.parametrize("record", RECORDED_PARAMS)
def test_replay_sentry_23_7_executed(sentry_sls, record: dict[str, Any]) -> None:
    """The same bodies executed as recorded: Sentry 23.7 answered HTTP 500 on these pages
    when `meta` was empty or `totals` lacked an alias, so check both."""
    assert record is not None, MISSING_RECORDINGS
    body = json.dumps(record["body"])
    response = post_body(sentry_sls.snuba_url, record["path"], body, record["referer"])
    payload = json_body(response, body)
    assert payload.get("data") == [], payload
    snql = record["body"]["query"]
    expected = snql_result_names(snql)
    assert expected, f"cannot read the result names of {snql}"
    names = [column["name"] for column in payload.get("meta") or []]
    assert names == expected, f"meta names {names} != {expected} (BY first)\nrequest: {body}"
    if snql.endswith("TOTALS True"):
        # Every recorded TOTALS query selects only aggregates besides its BY column.
        aliases = {name for name in expected if f"AS `{name}`" in snql}
        totals = payload.get("totals")
        assert isinstance(totals, dict), payload
        assert aliases <= set(totals), f"totals lacks {sorted(aliases - set(totals))}: {totals}"


def main() -> int:
    """Print every shape's request as Sentry would send it (dry_run off)."""
    for shape in SHAPES:
        request = shape.build(False)
        print(f"## {shape.name}: POST /{request.dataset}/snql  referer: {referrer_of(request)}")
        print(request.query.serialize())
        print(request.serialize())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
