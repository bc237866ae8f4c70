"""Acceptance at real volume (issue 21): a realistic data set (volume_data.py: 3 projects, 330
issues from thousands of events down to one, 20,000 errors over 14 days with environments,
releases, users and tags, plus 2,000 transactions) sent to sentry-sls's ingest as sentry-sdk's own
envelopes, then read back through a real Sentry Web 23.7.1's API and compared with a computation
over what was sent: every sort Sentry 23.7.1 has (date, new, freq, user; priority on its first
page; it has no ``trends``: a 400 "Sort key 'trends' not supported"), pages of 25 and 100 followed
through the ``Link`` cursor to the end, ``X-Hits``, filters (environment, release, tag, negated tag,
``is:unresolved``, free text, a 24-hour period), the Issues page's second requests (issues-stats,
issues-count), and for the largest, the median and the smallest issue its page and every
sub-request that reads Snuba (details with stats, latest/oldest event, events, tags, tag values,
hashes, first/last release, the All Events tab's Discover query).

Both stores (``BACKENDS``): the embedded one and sls-local (the SLS protocol path). One data set
per store, sent once (module-scoped ``volume``); Postgres keeps earlier runs' rows, so the
projects are new each run and per store (their slugs carry volume_data.RUN and the store). Timings of each phase go to
$SENTRY_SLS_ARTIFACTS/volume-timings-<backend>.json (default ./artifacts).

Ties: many issues share a count or a user count. Sentry orders them by group id, which the
computation cannot know in advance, so each listing is compared as the sequence of scores plus
the set of issues within each run of equal scores, and no issue may repeat or be missing.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import volume_data as vd
from conftest import BACKENDS, Harness, start_harness

HOUR, DAY = vd.HOUR, vd.DAY


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp())


@dataclass
class Volume:
    harness: Harness
    data: vd.DataSet
    ids: dict[str, str] = field(default_factory=dict)  # issue key -> Sentry group id
    keys: dict[str, str] = field(default_factory=dict)  # group id -> issue key
    listed: dict[str, dict] = field(default_factory=dict)  # issue key -> its row in the first listing
    resolved: set[str] = field(default_factory=set)
    org_id: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def get(self, path: str) -> requests.Response:
        """GET through Sentry's API; a rate-limited answer (429) is retried; anything but 200 fails."""
        for _ in range(10):
            response = self.harness.api(path)
            if response.status_code != 429:
                break
            time.sleep(1)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:800]}"
        return response

    def pages(self, path: str, most: int = 60) -> tuple[list[list], list[requests.Response]]:
        """Every page of a cursor-paged list, following the Link header's next cursor until
        results="false"."""
        bodies, responses = [], []
        while path:
            response = self.get(path)
            bodies.append(response.json())
            responses.append(response)
            link = response.links.get("next", {})
            path = link["url"].split("/api/0/", 1)[1] if link.get("results") == "true" else None
            assert len(bodies) <= most, f"more than {most} pages: {path}"
        return bodies, responses

    def project_id(self, project: str) -> int:
        return self.data.project_ids[project]

    def issue_list(self, project, sort="date", limit=100, query="", environment=None, period="14d",
                   group_stats="") -> str:  # fmt: skip
        path = (f"organizations/{self.harness.org}/issues/?project={self.project_id(project)}&statsPeriod={period}"
                f"&limit={limit}&sort={sort}&query={quote(query)}&groupStatsPeriod={group_stats}")  # fmt: skip
        return path + (f"&environment={quote(environment)}" if environment else "")

    def events(self, project=None, match=None) -> list[vd.ErrorEvent]:
        return [e for e in self.data.events
                if (project is None or e.project == project) and (match is None or match(e))]  # fmt: skip


def wait_for_store(harness: Harness, data: vd.DataSet, seconds: float = 180) -> None:
    """Polls the error count per project through the Snuba API until it is all that was sent."""
    ids = sorted(data.project_ids.values())
    start = datetime.fromtimestamp(data.now - 15 * DAY, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromtimestamp(data.now + HOUR, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    query = (f"MATCH (events) SELECT count() AS c BY project_id WHERE project_id IN tuple({', '.join(map(str, ids))}) "
             f"AND timestamp >= toDateTime('{start}') AND timestamp < toDateTime('{end}')")  # fmt: skip
    want = {data.project_ids[p]: sum(1 for e in data.events if e.project == p) for p in vd.PROJECTS}
    deadline, got = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        response = requests.post(f"{harness.snuba}/events/snql", timeout=60, json={
            "query": query, "dataset": "events", "app_id": "volume", "parent_api": "volume",
            "tenant_ids": {"referrer": "volume", "organization_id": 1}})  # fmt: skip
        if response.status_code == 200:
            got = {row["project_id"]: row["c"] for row in response.json()["data"]}
            if got == want:
                return
        time.sleep(1)
    pytest.fail(f"the store did not get every event: {got} != {want}")


@pytest.fixture(scope="module", params=BACKENDS)
def volume(request, tmp_path_factory):
    """The harness on one store, the data set sent through its ingest and in the store, every
    issue mapped to its Sentry group id (the first search of each project syncs its groups), and
    a few issues resolved through the API (the is:unresolved filter's subjects). The projects
    are retired at the end (the other modules list issues without ``project=``)."""
    timings, started = {}, time.monotonic()

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.monotonic() - since, 1)
        return time.monotonic()

    running = start_harness(tmp_path_factory, request.param, ("--ingest-max-past-days", "15"))
    mark, slugs = lap("harness", started), []
    try:
        data = vd.plan(int(time.time()), vd.RUN + {"embedded": "em", "sls-local": "sl"}[request.param])
        slugs = [vd.slug(p, data.run) for p in vd.PROJECTS]
        ids = running.create_projects(slugs, retire=rf"({'|'.join(vd.PROJECTS)})-[a-z]+")
        data.project_ids = {p: ids[vd.slug(p, data.run)] for p in vd.PROJECTS}
        mark = lap("projects", mark)
        envelopes = vd.build_envelopes(data, running.ingest_port)
        mark = lap("build_envelopes", mark)
        vd.post_envelopes(envelopes, running.ingest_port)
        mark = lap("send", mark)
        wait_for_store(running, data)
        mark = lap("wait_for_store", mark)
        volume = Volume(running, data, timings=timings)
        volume.org_id = int(volume.get(f"organizations/{running.org}/").json()["id"])
        titles = {issue.title: key for key, issue in data.issues.items()}
        for project in vd.PROJECTS:
            want = {key for key, issue in data.issues.items() if issue.project == project}
            deadline = time.monotonic() + 120
            while True:
                bodies, _ = volume.pages(volume.issue_list(project, sort="new"))
                rows = [row for body in bodies for row in body]
                if {titles.get(row["title"]) for row in rows} >= want or time.monotonic() > deadline:
                    break
                time.sleep(2)
            for row in rows:
                volume.listed[titles.get(row["title"], row["title"])] = row
        missing, unexpected = set(data.issues) - set(volume.listed), set(volume.listed) - set(data.issues)
        assert not unexpected, f"issues never sent: {sorted(unexpected)[:3]}"
        assert not missing, f"{len(missing)} never listed, e.g. {[data.issues[k].title for k in list(missing)[:3]]}"
        volume.ids = {key: row["id"] for key, row in volume.listed.items()}
        volume.keys = {gid: key for key, gid in volume.ids.items()}
        mark = lap("sync_and_map", mark)
        main = [k for k, i in sorted(data.issues.items(), key=lambda kv: kv[1].rank) if i.project == vd.PROJECTS[0]]
        volume.resolved = set(main[2:60:12])  # five, big and small
        for key in sorted(volume.resolved):
            response = requests.put(f"{running.web}/api/0/issues/{volume.ids[key]}/", json={"status": "resolved"},
                                    headers={"Authorization": f"Bearer {running.token}"}, timeout=60)  # fmt: skip
            assert response.status_code == 200, response.text[:500]
        lap("resolve", mark)
        yield volume
    finally:
        if slugs:
            running.retire_projects(slugs)
        timings["total"] = round(time.monotonic() - started, 1)
        running.close()
        out = Path(os.environ.get("SENTRY_SLS_ARTIFACTS", "artifacts"))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"volume-timings-{request.param}.json").write_text(json.dumps(timings, indent=1))
        print(f"\nvolume timings ({request.param}): {json.dumps(timings)}")


@pytest.fixture
def timed(volume, request):
    """Adds the test's duration to the backend's timings."""
    started = time.monotonic()
    yield
    volume.timings[request.node.name] = round(time.monotonic() - started, 1)


# --- checks shared by the listings ------------------------------------------------------------------


def score_of(row: dict, sort: str, filtered: bool) -> int:
    source = row["filtered"] if filtered else row
    return {"date": lambda: epoch(row["lastSeen"]), "new": lambda: epoch(row["firstSeen"]),
            "freq": lambda: int(source["count"]), "user": lambda: source["userCount"]}[sort]()  # fmt: skip


def check_listing(volume, bodies, responses, sort, limit, want, want_filtered=None, lifetime=None):
    """One listing (all its pages): the issues of ``want`` (issue key -> count, userCount,
    firstSeen, lastSeen), each once, ranked by ``sort`` over ``want_filtered`` when the query has
    Snuba conditions (else over ``want``); page sizes, X-Hits, and every row's numbers (and its
    ``lifetime`` against ``lifetime``, see ``lifetime_of``)."""
    rows = [row for body in bodies for row in body]
    keys = [volume.keys.get(row["id"], row["title"]) for row in rows]
    repeated = [key for key in set(keys) if keys.count(key) > 1]
    assert not repeated, f"issues listed twice: {repeated[:5]}"
    assert set(keys) == set(want), (f"missing {sorted(set(want) - set(keys))[:5]}, "
                                    f"unexpected {sorted(set(keys) - set(want))[:5]}")  # fmt: skip
    sizes = [len(body) for body in bodies]
    assert all(size == limit for size in sizes[:-1]) and sizes[-1] <= limit, sizes
    assert len([size for size in sizes if size]) == math.ceil(len(want) / limit), sizes
    assert [r.headers.get("X-Hits") for r in responses] == [str(len(want))] * len(responses)
    ranked = vd.ranking(want_filtered if want_filtered is not None else want, sort)
    got = [(score_of(row, sort, want_filtered is not None), key) for row, key in zip(rows, keys)]
    assert [s for s, _ in got] == [s for s, _ in ranked], f"the {sort} scores are out of order"
    for score, run in groupby(got, key=lambda t: t[0]):
        assert {key for _, key in run} == {key for s, key in ranked if s == score}, (sort, score)
    for row, key in zip(rows, keys):
        numbers = {"count": int(row["count"]), "userCount": row["userCount"], "firstSeen": epoch(row["firstSeen"]),
                   "lastSeen": epoch(row["lastSeen"])}  # fmt: skip
        assert numbers == want[key], (key, volume.data.issues[key].title)
        if want_filtered is not None:
            assert int(row["filtered"]["count"]) == want_filtered[key]["count"], key
            assert row["filtered"]["userCount"] == want_filtered[key]["userCount"], key
        if lifetime is not None and "lifetime" in row:
            life = row["lifetime"]
            numbers = {"count": int(life["count"]), "userCount": life["userCount"],
                       "firstSeen": epoch(life["firstSeen"]), "lastSeen": epoch(life["lastSeen"])}  # fmt: skip
            assert numbers == lifetime[key], ("lifetime", key)
    return rows, keys


def lifetime_of(volume, project, environment=None) -> dict[str, dict[str, int]]:
    """What Sentry 23.7.1 shows as an issue's numbers over all time (``lifetime`` in the list,
    the issue page's header): without an environment, every event's; with one, the users and last
    seen of that environment (Snuba) but the count of every environment (Postgres
    ``Group.times_seen``) and the first seen of the environment (``GroupEnvironment.first_seen``:
    when the environment's first event came; api/serializers/models/group.py,
    _parse_seen_stats_results)."""
    everything = vd.stats(volume.events(project))
    if environment is None:
        return everything
    out = vd.stats(volume.events(project, lambda e: e.environment == environment))
    return {key: {**row, "count": everything[key]["count"]} for key, row in out.items()}


# --- the data set --------------------------------------------------------------------------------------


def test_the_data_set_has_the_required_shape():
    """Issue 21's data set, checked on the plan itself: at least 3 projects, 300 issues with a
    skewed size distribution, 20,000 events over 14 days, several environments and releases,
    users, tags, distinct seconds, and 1,500-3,000 transactions."""
    data = vd.plan(int(time.time()))
    shape = vd.shape(data)
    assert shape["projects"] >= 3 and shape["issues"] >= 300 and shape["errors"] >= 20_000, shape
    assert shape["largest"][0] > 5000 and shape["largest"][2] > 1000 and shape["single_event_issues"] > 100, shape
    assert shape["median"] <= 10 and 13 < shape["days"] < 14 and len(shape["environments"]) >= 3, shape
    assert shape["releases"] >= 15 and shape["users"] > 500 and 1500 <= shape["transactions"] <= 3000, shape
    stamps = [e.timestamp for e in data.events] + [t.timestamp for t in data.transactions]
    assert len(stamps) == len(set(stamps))
    assert {e.browser for e in data.events} >= {"Chrome", "Firefox", None} and len({e.tier for e in data.events}) == 3
    assert all(data.run in issue.title and not any(c.isdigit() for c in issue.title) for issue in data.issues.values())
    assert len({issue.title for issue in data.issues.values()}) == len(data.issues)
    assert {t.status for t in data.transactions} >= {"ok", "internal_error", "deadline_exceeded", "cancelled"}
    assert vd.plan(data.now).events == data.events  # seeded: the same plan again


# --- one issue: its page and every sub-request that reads Snuba ---------------------------------------


def subject(data: vd.DataSet, which: str) -> str:
    """The largest issue, the median one (by size) or the smallest (the last single-event issue)."""
    ordered = sorted(data.issues.values(), key=lambda i: (-i.size, i.rank))
    return {"largest": ordered[0], "median": ordered[len(ordered) // 2], "smallest": ordered[-1]}[which].key


def hourly_and_daily(mine, series, rollup, count):
    assert count <= len(series) <= count + 1, len(series)
    starts = [int(start) for start, _ in series]
    assert all(b - a == rollup for a, b in zip(starts, starts[1:]))
    assert starts[-1] <= time.time() < starts[-1] + rollup
    assert [n for _, n in series] == vd.buckets([e.timestamp for e in mine], starts, rollup)


@pytest.mark.parametrize("which", ["largest", "median", "smallest"])
def test_issue_details_and_stats(volume, timed, which):
    """/issues/{id}/ (what the issue page loads first): count, users, first and last seen, the
    24 h and 30 d series bucket by bucket, first and last release (with each release's first and
    last event in the project), the tag keys; then the same with ?environment= (an environment
    whose first event is not the issue's first: see ``lifetime_of`` for what Sentry counts)."""
    key = subject(volume.data, which)
    issue, mine = volume.data.issues[key], volume.data.of(key)
    body = volume.get(f"issues/{volume.ids[key]}/").json()
    assert body["title"] == issue.title and body["project"]["id"] == str(volume.project_id(issue.project))
    assert body["culprit"] == issue.route and body["level"] == issue.level
    assert body["status"] == ("resolved" if key in volume.resolved else "unresolved")
    want = vd.stats(mine)[key]
    got = {"count": int(body["count"]), "userCount": body["userCount"], "firstSeen": epoch(body["firstSeen"]),
           "lastSeen": epoch(body["lastSeen"])}  # fmt: skip
    assert got == want
    hourly_and_daily(mine, body["stats"]["24h"], HOUR, 24)
    hourly_and_daily(mine, body["stats"]["30d"], DAY, 30)
    assert body["firstRelease"]["version"] == mine[0].release
    assert body["lastRelease"]["version"] == mine[-1].release
    for release in (body["firstRelease"], body["lastRelease"]):
        stamps = [e.timestamp for e in volume.events(issue.project, lambda e: e.release == release["version"])]
        assert (epoch(release["firstEvent"]), epoch(release["lastEvent"])) == (min(stamps), max(stamps)), release
    keys = {"environment", "level", "release", "server_name", "tier", "transaction"}
    keys |= {"user"} if any(e.user for e in mine) else set()
    keys |= {"browser"} if any(e.browser for e in mine) else set()
    keys |= {"handled", "mechanism"} if issue.kind == "exception" else set()
    assert {tag["key"] for tag in body["tags"]} == keys
    for tag in body["tags"]:
        if tag["key"] in ("environment", "release", "user", "browser", "tier", "server_name"):
            assert tag["totalValues"] == sum(e.tag(tag["key"]) is not None for e in mine), tag
    # An environment whose first event is not the issue's first, where the issue has one.
    environment = ([e.environment for e in mine if e.environment != mine[0].environment] or [mine[0].environment])[0]
    in_env = [e for e in mine if e.environment == environment]
    body = volume.get(f"issues/{volume.ids[key]}/?environment={environment}").json()
    got = {"count": int(body["count"]), "userCount": body["userCount"], "firstSeen": epoch(body["firstSeen"]),
           "lastSeen": epoch(body["lastSeen"])}  # fmt: skip
    assert got == lifetime_of(volume, issue.project, environment)[key], environment
    hourly_and_daily(in_env, body["stats"]["24h"], HOUR, 24)


@pytest.mark.parametrize("which", ["largest", "median", "smallest"])
def test_issue_events_latest_oldest_and_hashes(volume, timed, which):
    """events/latest/ and events/oldest/ (also per environment), the events list (newest first,
    50 a page, following the cursor: the median and the smallest issue have one page, the
    largest its first two and, by the cursor's offset, its last: a nodestore read per event), the
    All Events tab's Discover query (statsPeriod=90d as the tab asks: first and last page of 50),
    the event JSON, and hashes/ (the Merged tab: one hash, its latest event)."""
    key = subject(volume.data, which)
    mine, group_id, harness = volume.data.of(key), volume.ids[key], volume.harness
    latest = volume.get(f"issues/{group_id}/events/latest/").json()
    assert latest["eventID"] == mine[-1].event_id and epoch(latest["dateCreated"]) == mine[-1].timestamp
    tags = {tag["key"]: tag["value"] for tag in latest["tags"]}
    assert tags["environment"] == mine[-1].environment and tags["release"] == mine[-1].release
    assert tags.get("browser") == mine[-1].browser and tags["tier"] == mine[-1].tier
    assert tags.get("user") == mine[-1].tag("user") and tags["server_name"] == mine[-1].host
    assert volume.get(f"issues/{group_id}/events/oldest/").json()["eventID"] == mine[0].event_id
    environment = mine[len(mine) // 2].environment
    in_env = [e for e in mine if e.environment == environment]
    for which, event in (("latest", in_env[-1]), ("oldest", in_env[0])):
        got = volume.get(f"issues/{group_id}/events/{which}/?environment={environment}").json()["eventID"]
        assert got == event.event_id, (which, environment)
    newest_first = [e.event_id for e in reversed(mine)]
    pages = math.ceil(len(mine) / 50)
    path = f"issues/{group_id}/events/?full=0&per_page=50"
    got = []
    for _ in range(min(pages, 2)):
        response = volume.get(path)
        got.extend(event["eventID"] for event in response.json())
        link = response.links["next"]
        path = link["url"].split("/api/0/", 1)[1] if link["results"] == "true" else None
    assert got == newest_first[: len(got)] and len(got) == min(len(mine), 100)
    if pages > 2:
        last = volume.get(f"issues/{group_id}/events/?full=0&per_page=50&cursor=0:{(pages - 1) * 50}:0")
        assert [event["eventID"] for event in last.json()] == newest_first[(pages - 1) * 50 :]
        assert last.links["next"]["results"] == "false"
    else:
        assert path is None
    discover = (f"organizations/{harness.org}/events/?field=id&field=title&field=release&field=environment"
                f"&field=user.display&field=timestamp&query=issue.id:{group_id}"
                f"&project={volume.project_id(mine[0].project)}"
                f"&statsPeriod=90d&sort=-timestamp&per_page=50")  # fmt: skip
    # A relative period of 30 days or more ends up to 15 minutes early (Sentry quantises it for
    # its query cache): what is listed is what came before that end, at either side of the request.
    before = time.time()
    first = volume.get(f"{discover}&cursor=0:0:0").json()["data"]
    ends = {quantize(t, volume.org_id) for t in (before, time.time())}
    visible = next((v for v in ([e for e in reversed(mine) if e.timestamp < end] for end in sorted(ends))
                    if [row["id"] for row in first] == [e.event_id for e in v[:50]]), None)  # fmt: skip
    assert visible is not None, ([row["id"] for row in first[:3]], [e.event_id for e in reversed(mine[-3:])], ends)
    last = max(0, math.ceil(len(visible) / 50) - 1) * 50
    pages = {0: first} if last == 0 else {0: first, last: volume.get(f"{discover}&cursor=0:{last}:0").json()["data"]}
    for offset, rows in pages.items():
        want = visible[offset : offset + 50]
        assert [row["id"] for row in rows] == [e.event_id for e in want], offset
        assert [(row["release"], row["environment"], row["user.display"] or None, epoch(row["timestamp"]))
                for row in rows] == [(e.release, e.environment, e.user, e.timestamp) for e in want]  # fmt: skip
        assert all(row["title"] == volume.data.issues[key].title for row in rows)
    slug = vd.slug(mine[0].project, volume.data.run)
    event = volume.get(f"projects/{harness.org}/{slug}/events/{mine[0].event_id}/json/").json()
    assert event["event_id"] == mine[0].event_id and event["release"] == mine[0].release
    hashes = volume.get(f"issues/{group_id}/hashes/").json()
    assert len(hashes) == 1 and hashes[0]["latestEvent"]["eventID"] == mine[-1].event_id


def quantize(epoch_seconds: float, key_hash: int, duration: int = 15 * 60) -> int:
    """Sentry's quantize_time (utils/snuba.py), as the events endpoint applies it to both ends of
    a relative period of 30 days or more (api/bases/organization_events.py)."""
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    past_hour = moment.minute * 60 + moment.second
    start = past_hour // duration * duration + key_hash % duration
    past_hour = start if start < past_hour else start - duration
    return int(moment.replace(minute=0, second=0, microsecond=0).timestamp()) + past_hour


def check_top_values(top, counts, limit):
    """``top`` (Sentry's topValues, at most ``limit``) are the most frequent values with their
    exact counts: ties at the cut may be either, but nothing left out is more frequent."""
    got = {value["value"]: value["count"] for value in top}
    assert all(counts.get(value) == count for value, count in got.items()), (got, counts)
    assert [value["count"] for value in top] == sorted(got.values(), reverse=True)
    assert len(got) == len(top) == min(len(counts), limit), (len(top), len(counts), limit)
    cut = min(got.values())
    assert all(count <= cut for value, count in counts.items() if value not in got), (cut, counts)


@pytest.mark.parametrize("which", ["largest", "median", "smallest"])
def test_issue_tags_and_tag_values(volume, timed, which):
    """tags/ (the sidebar: per key the total and top values), tags/{key}/ (unique values too)
    and tags/{key}/values/ (every page; the default order is first seen, newest first) for the
    keys we sent, with counts and first/last seen per value."""
    key = subject(volume.data, which)
    mine, group_id = volume.data.of(key), volume.ids[key]
    by_key = {tag["key"]: tag for tag in volume.get(f"issues/{group_id}/tags/").json()}
    for name in ("environment", "release", "user", "browser", "tier", "server_name"):
        values = vd.tag_values(mine, name)
        if not values:
            assert name not in by_key, name
            continue
        counts = {value: row["count"] for value, row in values.items()}
        assert by_key[name]["totalValues"] == sum(counts.values()), name
        check_top_values(by_key[name]["topValues"], counts, 10)
        if name in ("user", "browser", "release"):
            detail = volume.get(f"issues/{group_id}/tags/{name}/").json()
            assert (detail["totalValues"], detail["uniqueValues"]) == (sum(counts.values()), len(counts)), name
            check_top_values(detail["topValues"], counts, 9)
    for name in ("user", "release"):
        values = vd.tag_values(mine, name)
        if not values:
            continue
        bodies, _ = volume.pages(f"issues/{group_id}/tags/{name}/values/")
        rows = [row for body in bodies for row in body]
        assert [row["value"] for row in rows] == sorted(values, key=lambda v: -values[v]["firstSeen"]), name
        for row in rows:
            want = values[row["value"]]
            assert (row["count"], epoch(row["firstSeen"]), epoch(row["lastSeen"])) == (
                want["count"], want["firstSeen"], want["lastSeen"]), (name, row)  # fmt: skip
        assert len(bodies) == max(1, math.ceil(len(values) / 100)), name


# --- the issue list -----------------------------------------------------------------------------------


def test_every_issue_is_listed_with_its_numbers(volume, timed):
    """The first listing of each project (sort=new, pages of 100, synced from the store): all
    its issues, each with the count, user count, first/last seen and lifetime computed."""
    for project in vd.PROJECTS:
        want = vd.stats(volume.events(project))
        got = {key: row for key, row in volume.listed.items() if volume.data.issues[key].project == project}
        assert set(got) == set(want), project
        for key, row in got.items():
            numbers = {"count": int(row["count"]), "userCount": row["userCount"],
                       "firstSeen": epoch(row["firstSeen"]), "lastSeen": epoch(row["lastSeen"])}  # fmt: skip
            assert numbers == want[key], (project, key)
            assert int(row["lifetime"]["count"]) == want[key]["count"], (project, key)
            assert row["title"] == volume.data.issues[key].title, (project, key)
            assert row["shortId"].startswith(vd.slug(project, volume.data.run).upper()), (project, key)


# Every sort in pages of 100 on the largest project (163 issues: two pages), and in pages of 25
# on the two others (four pages each): date (its first page from Postgres alone) and freq (the
# most ties) on the middle one, new and user on the smallest. Each page of the largest project
# costs most (every search syncs its groups again for five minutes after they change).
LISTINGS = [(sort, 100, vd.PROJECTS[0]) for sort in ("date", "new", "freq", "user")]
LISTINGS += [("date", 25, vd.PROJECTS[1]), ("freq", 25, vd.PROJECTS[1]), ("new", 25, vd.PROJECTS[2]),
             ("user", 25, vd.PROJECTS[2])]


@pytest.mark.parametrize("sort,limit,project", LISTINGS)
def test_each_sort_pages_to_the_end_in_the_computed_order(volume, timed, sort, limit, project):
    """Every page of the project's issue list in the sort's order (date, new, freq, user), with
    X-Hits, each issue once, its numbers and lifetime. The freq pages of 100 ask for the 24 h
    series too (checked bucket by bucket)."""
    stats_period = "24h" if sort == "freq" and limit == 100 else ""
    bodies, responses = volume.pages(volume.issue_list(project, sort=sort, limit=limit, group_stats=stats_period))
    want = vd.stats(volume.events(project))
    rows, keys = check_listing(volume, bodies, responses, sort, limit, want, lifetime=want)
    if stats_period:
        for row, key in zip(rows, keys):
            hourly_and_daily(volume.data.of(key), row["stats"]["24h"], HOUR, 24)


FILTERS = {
    # name: (query ({release}: the project's fourth), environment, period, which events match
    # (event, its issue, that release), Snuba conditions?)
    "environment": ("", "staging", "14d", None, False),
    "release": ("release:{release}", None, "14d", lambda e, i, r: e.release == r, True),
    "tag": ("browser:Firefox", None, "14d", lambda e, i, r: e.browser == "Firefox", True),
    "negated tag": ("!browser:Firefox", None, "14d", lambda e, i, r: e.browser != "Firefox", True),
    "tag and environment": ("tier:enterprise", "production", "14d", lambda e, i, r: e.tier == "enterprise", True),
    "free text": (vd.FREE_TEXT, None, "14d", lambda e, i, r: vd.FREE_TEXT in i.title.lower(), True),
    "24 hours": ("", None, "24h", None, False),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_list_exactly_the_matching_issues(volume, timed, name):
    """Filters on the largest project (sort=freq, pages of 100 to the end, X-Hits): the
    environment parameter (counts of that environment only), release:, a tag, a negated tag
    (events without the tag match it), a tag within an environment, free text, and a 24-hour
    period. ``count`` is over the period and environment; ``filtered`` over what the query matches,
    which is also what the order follows."""
    query, environment, period, match, conditions = FILTERS[name]
    project = vd.PROJECTS[0]
    release = volume.data.releases[project][3]
    query = query.format(release=release)
    since = volume.data.now - DAY if period == "24h" else 0
    in_scope = volume.events(project, lambda e: e.timestamp > since and environment in (None, e.environment))
    matching = [e for e in in_scope if match is None or match(e, volume.data.issues[e.issue], release)]
    filtered = vd.stats(matching)
    want = {key: row for key, row in vd.stats(in_scope).items() if key in filtered}
    assert 0 < len(want) < len(vd.stats(volume.events(project))) or name == "negated tag", (name, len(want))
    bodies, responses = volume.pages(volume.issue_list(project, "freq", 100, query, environment, period))
    lifetime = lifetime_of(volume, project, environment)
    check_listing(volume, bodies, responses, "freq", 100, want, filtered if conditions else None, lifetime)


def test_is_unresolved_leaves_out_the_resolved_issues(volume, timed):
    """is:unresolved (a Postgres filter: with sort=date its first page comes from Postgres alone,
    the next through Snuba with the cursor and the candidates) in pages of 100 to the end, and
    is:resolved: exactly the five issues resolved through the API."""
    project, sort = vd.PROJECTS[0], "date"
    everything = vd.stats(volume.events(project))
    want = {key: row for key, row in everything.items() if key not in volume.resolved}
    bodies, responses = volume.pages(volume.issue_list(project, sort, 100, "is:unresolved"))
    check_listing(volume, bodies, responses, sort, 100, want)
    bodies, responses = volume.pages(volume.issue_list(project, sort, 100, "is:resolved"))
    check_listing(volume, bodies, responses, sort, 100, {key: everything[key] for key in volume.resolved})


def test_the_issues_pages_second_requests(volume, timed):
    """What the Issues page asks after the list: issues-stats for the page's 25 groups (counts,
    users, seen times, lifetime and filtered, the 14 d series by day) and issues-count for its
    tabs' queries (Sentry caps each at 100)."""
    harness, project = volume.harness, vd.PROJECTS[0]
    everything = vd.stats(volume.events(project))
    top = [key for _, key in vd.ranking(everything, "freq")][:25]
    query = "browser:Safari"
    groups = "".join(f"&groups={volume.ids[key]}" for key in top)
    rows = volume.get(f"organizations/{harness.org}/issues-stats/?project={volume.project_id(project)}"
                      f"&statsPeriod=14d&groupStatsPeriod=14d&query={quote(query)}{groups}").json()  # fmt: skip
    assert sorted(row["id"] for row in rows) == sorted(volume.ids[key] for key in top)
    safari = vd.stats(volume.events(project, lambda e: e.browser == "Safari"))
    for row in rows:
        key = volume.keys[row["id"]]
        assert (int(row["count"]), row["userCount"]) == (everything[key]["count"], everything[key]["userCount"]), key
        seen = [epoch(row["firstSeen"]), epoch(row["lastSeen"])]
        assert seen == [everything[key]["firstSeen"], everything[key]["lastSeen"]], key
        assert int(row["lifetime"]["count"]) == everything[key]["count"], key
        assert int(row["filtered"]["count"]) == safari.get(key, {"count": 0})["count"], key
        hourly_and_daily(volume.data.of(key), row["stats"]["14d"], DAY, 14)
    queries = "".join(f"&query={quote(q)}" for q in ("is:unresolved", "is:resolved", f"is:unresolved {query}"))
    counts = volume.get(f"organizations/{harness.org}/issues-count/?project={volume.project_id(project)}"
                        f"&statsPeriod=14d{queries}").json()  # fmt: skip
    # Capped at 100 (ISSUES_COUNT_MAX_HITS_LIMIT: the tab shows "99+").
    assert counts["is:unresolved"] == min(100, len(everything) - len(volume.resolved)), counts
    assert counts["is:resolved"] == len(volume.resolved), counts
    assert counts[f"is:unresolved {query}"] == min(100, len([k for k in safari if k not in volume.resolved])), counts


def test_priority_ranks_the_first_page_by_sentrys_score(volume, timed):
    """sort=priority (23.7.1's score sort; it has no ``trends``): the first page of 100 of the
    largest and of the smallest project holds the best-scored issues in order, by Sentry's formula
    evaluated over what was sent at the time of the request (scores move with the clock: each is
    bounded over the request's time span, and issues whose bounds overlap may come in either
    order)."""
    assert volume.harness.api(volume.issue_list(vd.PROJECTS[0], sort="trends")).status_code == 400
    for project in (vd.PROJECTS[0], vd.PROJECTS[2]):
        before = time.time()
        rows = volume.get(volume.issue_list(project, sort="priority", limit=100)).json()
        after = time.time()
        stamps = {}
        for event in volume.events(project):
            stamps.setdefault(event.issue, []).append(event.timestamp)
        # The score steps where an event leaves the last hour or the last 7 days.
        steps = [t for ts in stamps.values() for s in ts for t in (s + HOUR, s + 7 * DAY)]
        moments = [before - 1, after + 1] + [t for t in steps if before - 1 < t < after + 1]
        bounds = {key: (min(vd.priority(ts, m) for m in moments), max(vd.priority(ts, m) for m in moments))
                  for key, ts in stamps.items()}  # fmt: skip
        keys = [volume.keys[row["id"]] for row in rows]
        assert len(keys) == min(100, len(stamps)) and len(set(keys)) == len(keys), project
        for better, worse in zip(keys, keys[1:]):
            assert bounds[better][1] * (1 + 1e-9) >= bounds[worse][0], (project, better, worse)
        cut = min(bounds[key][1] for key in keys)
        assert all(bounds[key][0] <= cut * (1 + 1e-9) for key in stamps if key not in keys), project


# ---------------------------------------------------------------------------------------------
# The console: every page loads (headless Chromium), Performance answers from the transactions
# ---------------------------------------------------------------------------------------------


def console_ready(volume) -> None:
    """What the standard pipeline would have set on port 80 (a shared Postgres): the projects
    have transactions (Performance shows its table, not onboarding); the admin has seen the
    product tours (they would cover the pages)."""
    ids = ", ".join(str(volume.project_id(p)) for p in vd.PROJECTS)
    volume.harness.sentry_exec(
        "from django.utils import timezone\n"
        "from sentry.assistant.guides import GUIDES\n"
        "from sentry.models import AssistantActivity, Project, User\n"
        f"for project in Project.objects.filter(id__in=[{ids}]):\n"
        "    project.flags.has_transactions = True\n"
        "    project.save(update_fields=['flags'])\n"
        "user = User.objects.get(email='admin@example.com')\n"
        "for guide_id in GUIDES.values():\n"
        "    AssistantActivity.objects.get_or_create(user=user, guide_id=guide_id,"
        " defaults={'dismissed_ts': timezone.now()})\n"
    )


def test_every_console_page_loads_without_a_server_error(volume, timed):
    """A walk through the navigation (crawl.py) on the realistic data set: no API request of any
    page answers 5xx; each page's screenshot goes to $SENTRY_SLS_ARTIFACTS."""
    if volume.harness.backend != BACKENDS[0]:
        pytest.skip("the walk runs once, on the embedded store (the API checks cover both)")
    import crawl

    if not (Path(crawl.CHROMIUM).is_file() and Path(crawl.CHROMEDRIVER).is_file()):
        pytest.skip("no chromium / chromedriver (scripts/test.sh installs them from Debian)")
    console_ready(volume)
    harness, main = volume.harness, vd.PROJECTS[0]
    largest = max((k for k, i in volume.data.issues.items() if i.project == main),
                  key=lambda k: len(volume.data.of(k)))  # fmt: skip
    names = Counter(tx.name for tx in volume.data.transactions if tx.project == main)
    saved = requests.post(f"{harness.web}/api/0/organizations/{harness.org}/discover/saved/",
                          headers={"Authorization": f"Bearer {harness.token}"}, timeout=60, json={
        "name": f"errors by title {vd.RUN}", "projects": [volume.project_id(main)], "version": 2,
        "fields": ["title", "count()", "count_unique(user)"], "orderby": "-count", "range": "14d",
        "query": "!event.type:transaction"})  # fmt: skip
    assert saved.status_code == 201, saved.text[:500]
    artifacts = Path(os.environ.get("SENTRY_SLS_ARTIFACTS", "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    driver = crawl.browser()
    try:
        crawl.log_in(driver, harness.web)
        visits = [crawl.visit(driver, harness.web, name, path, artifacts) for name, path in crawl.pages(
            harness.org, vd.slug(main, volume.data.run), volume.project_id(main), int(volume.ids[largest]),
            names.most_common(1)[0][0], volume.data.releases[main][-1], int(saved.json()["id"]))]  # fmt: skip
    finally:
        driver.quit()
    failing = {v.name: v.server_errors for v in visits if v.server_errors}
    assert not failing, failing
    assert all(v.api_requests > 0 for v in visits), [(v.name, v.api_requests) for v in visits]


def test_the_performance_table_equals_a_computation(volume, timed):
    """The Performance page's transaction table (its own request, as the page sends it) on the
    transactions sent: counts, failure rate, apdex, users and user misery exactly, and p50 and p95
    within 1 % of the values' ranks of the exact quantile (the t-digest's error, docs/queries.md)."""
    main = vd.PROJECTS[0]
    fields = ["transaction", "project", "count()", "tpm()", "p50()", "p95()", "failure_rate()",
              "apdex()", "count_unique(user)", "count_miserable(user)", "user_misery()"]  # fmt: skip
    query = "&".join(f"field={quote(f)}" for f in fields)
    path = (f"organizations/{volume.harness.org}/events/?{query}&query=event.type%3Atransaction"
            f"&statsPeriod=14d&per_page=50&sort=-tpm%28%29&project={volume.project_id(main)}")  # fmt: skip
    body = volume.get(path).json()
    rows = {row["transaction"]: row for row in body["data"]}
    window_end = int(time.time())
    mine = [tx for tx in volume.data.transactions if tx.project == main]
    want = vd.performance_table(mine, window_end - 14 * DAY, window_end + 1)
    assert set(rows) == {name for (_, name) in want}
    for (_, name), expected in want.items():
        row = rows[name]
        assert row["count()"] == expected["count"], name
        assert row["failure_rate()"] == pytest.approx(expected["failure_rate"]), name
        assert row["apdex()"] == pytest.approx(expected["apdex"]), name
        assert row["count_unique(user)"] == expected["count_unique_user"], name
        assert row["count_miserable(user)"] == expected["count_miserable_user"], name
        assert row["user_misery()"] == pytest.approx(expected["user_misery"]), name
        durations = sorted(tx.duration_ms for tx in mine if tx.name == name)
        # The t-digest's rank error: within 1 % of the values (and one rank) at these sizes.
        slack = max(1, math.ceil(0.01 * len(durations)))
        for level, field_name in ((0.5, "p50()"), (0.95, "p95()")):
            rank = level * (len(durations) - 1)
            low = durations[max(math.floor(rank) - slack, 0)]
            high = durations[min(math.ceil(rank) + slack, len(durations) - 1)]
            assert low <= row[field_name] <= high, (name, field_name, row[field_name], low, high)
