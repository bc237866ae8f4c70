"""Acceptance, exact numbers over several groups: events sent with sentry-sdk to sentry-sls (five
groups with different counts, users, environments, releases, tags and first/last seen times, some
days old), read back through a real Sentry Web 23.7.1's own API, and compared with an independent
computation over what was sent. Then headless Chromium (Debian's, driven by selenium) renders the
Issues page and one issue's page; screenshots go to $SENTRY_SLS_ARTIFACTS (default ./artifacts).

The harness is tests/sentry_acceptance/conftest.py (a fresh store for this module).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

HOUR = 3600
DAY = 24 * HOUR
RUN = uuid.uuid4().hex[:8]  # in every message: this run's groups are new in Postgres

# name: (kind, [(seconds before now, user id or None, environment, release, color)])
# Ingest keeps timestamps within 6 days of arrival (docs/schema.md §1.1): the oldest is 5 days.
# Every sort key differs between the groups, over 14 days and over 24 hours (per environment: the
# count), so each order checked is unambiguous; no event is within minutes of a window's edge.
PLAN = {
    "alpha": ("message", [
        (5 * DAY, "u1", "production", "app@1.0", "red"),
        (4 * DAY, "u3", "staging", "app@1.0", "red"),
        (3 * DAY, "u2", "production", "app@1.0", "red"),
        (2 * HOUR + 120, "u1", "staging", "app@1.0", "red"),
        (1 * HOUR + 300, "u1", "production", "app@2.0", "blue"),
        (1800, None, "staging", "app@2.0", "red"),
        (600, "u1", "production", "app@2.0", "red"),
    ]),
    "beta": ("message", [
        (30 * HOUR, "u1", "staging", "app@2.0", "blue"),
        (10 * HOUR, "u2", "staging", "app@2.0", "blue"),
        (5 * HOUR, "u4", "staging", "app@2.0", "blue"),
        (3 * HOUR, "u5", "staging", "app@2.0", "blue"),
    ]),
    "gamma": ("message", [
        (4 * DAY, "u9", "production", "app@2.0", "red"),
        (4 * DAY - HOUR, "u9", "production", "app@2.0", "red"),
    ]),
    "delta": ("message", [
        (2 * DAY, None, "production", "app@1.0", "green"),
        (2400, None, "production", "app@1.0", "green"),
        (300, None, "production", "app@1.0", "green"),
    ]),
    "epsilon": ("exception", [
        (7 * HOUR, "u6", "production", "app@1.0", "green"),
        (6 * HOUR, "u7", "production", "app@1.0", "green"),
        (2 * HOUR + 1800, "u6", "production", "app@1.0", "green"),
        (3000, "u7", "production", "app@1.0", "green"),
        (1200, "u6", "production", "app@1.0", "green"),
    ]),
}


# An exception group is keyed by its stack and type, not the message: a type of this run's own
# keeps it apart from the same group of earlier runs (whose Postgres row keeps its first seen).
RunError = type(f"Error{RUN}", (RuntimeError,), {})


def title_of(name: str) -> str:
    kind, _ = PLAN[name]
    return f"Error{RUN}: {name} failed {RUN}" if kind == "exception" else f"{name} happened {RUN}"


def _raise(name: str) -> None:
    raise RunError(f"{name} failed {RUN}")


@pytest.fixture(scope="module")
def sent(harness):
    """Sends every event of PLAN (oldest first) with sentry-sdk; waits until the store has all."""
    import sentry_sdk
    from sentry_sdk.utils import event_from_exception

    now = int(time.time())
    client = sentry_sdk.Client(
        f"http://{uuid.uuid4().hex}@127.0.0.1:{harness.ingest_port}/{harness.project_id}",
        default_integrations=False,
    )
    events = []
    for name, (kind, rows) in PLAN.items():
        for ago, user, environment, release, color in rows:
            events.append({"group": name, "kind": kind, "timestamp": now - ago, "user": user,
                           "environment": environment, "release": release, "color": color})  # fmt: skip
    events.sort(key=lambda e: e["timestamp"])
    for event in events:
        if event["kind"] == "exception":
            try:
                _raise(event["group"])
            except RuntimeError:
                payload, hint = event_from_exception(sys.exc_info(), client_options=client.options)
        else:
            payload, hint = {"message": title_of(event["group"]), "level": "error"}, None
        payload.update(timestamp=float(event["timestamp"]), environment=event["environment"],
                       release=event["release"], tags={"color": event["color"]}, platform="python")  # fmt: skip
        if event["user"]:
            payload["user"] = {"id": event["user"]}
        event["event_id"] = client.capture_event(payload, hint=hint)
        assert event["event_id"], event
    client.flush(timeout=20)
    node_ids = [hashlib.md5(f"{harness.project_id}:{e['event_id']}".encode()).hexdigest() for e in events]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        nodes = requests.post(f"{harness.snuba}/v1/nodes/get_multi", json={"ids": node_ids}, timeout=10).json()
        if all(nodes["nodes"].get(node_id) for node_id in node_ids):
            break
        time.sleep(0.5)
    else:
        pytest.fail("not every event reached the store")
    return {"now": now, "events": events}


# --- the independent computation ------------------------------------------------------------------


def expected(events, environment=None):
    """Per group: count, userCount, firstSeen, lastSeen (epoch s) of the events sent."""
    out = {}
    for name in PLAN:
        mine = [e for e in events if e["group"] == name and (environment is None or e["environment"] == environment)]
        if mine:
            out[name] = {
                "count": len(mine),
                "userCount": len({e["user"] for e in mine if e["user"]}),
                "firstSeen": min(e["timestamp"] for e in mine),
                "lastSeen": max(e["timestamp"] for e in mine),
            }
    return out


def order(stats, sort):
    key = {"date": "lastSeen", "new": "firstSeen", "freq": "count", "user": "userCount"}[sort]
    return sorted(stats, key=lambda name: stats[name][key], reverse=True)


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


class Issues:
    """The issue list of this run's groups, through Sentry's organization issues endpoint."""

    def __init__(self, harness):
        self.harness = harness

    def list(self, query="", sort="date", environment=None, group_stats="24h", period="14d"):
        params = f"project={self.harness.project_id}&statsPeriod={period}&limit=25&sort={sort}"
        params += f"&groupStatsPeriod={group_stats}&query={quote(query)}"
        if environment:
            params += f"&environment={quote(environment)}"
        response = self.harness.api(f"organizations/{self.harness.org}/issues/?{params}")
        assert response.status_code == 200, response.text[:500]
        return [issue for issue in response.json() if RUN in issue["title"]]

    @staticmethod
    def names(issues):
        by_title = {title_of(name): name for name in PLAN}
        return [by_title[issue["title"]] for issue in issues]


@pytest.fixture(scope="module")
def issues(harness, sent):
    listing = Issues(harness)
    # The first search syncs the groups into Postgres; wait until all five are listed.
    deadline = time.monotonic() + 60
    while len(listing.list()) < len(PLAN) and time.monotonic() < deadline:
        time.sleep(1)
    listed = listing.list()
    assert sorted(listing.names(listed)) == sorted(PLAN), [i["title"] for i in listed]
    listing.ids = {name: issue["id"] for name, issue in zip(listing.names(listed), listed)}
    return listing


# --- the issue list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["date", "freq", "new", "user"])
def test_each_sort_lists_the_groups_in_the_computed_order(sent, issues, sort):
    want = expected(sent["events"])
    listed = issues.list(sort=sort)
    assert issues.names(listed) == order(want, sort)


def test_counts_users_and_seen_times_equal_what_was_sent(sent, issues):
    want = expected(sent["events"])
    for issue, name in zip(issues.list(), issues.names(issues.list())):
        got = {"count": int(issue["count"]), "userCount": issue["userCount"],
               "firstSeen": epoch(issue["firstSeen"]), "lastSeen": epoch(issue["lastSeen"])}  # fmt: skip
        assert got == want[name], name
        assert issue["shortId"] and issue["project"]["id"] == str(issues.harness.project_id)


def test_a_24h_period_counts_only_the_last_24_hours(sent, issues):
    since = time.time() - DAY
    recent = [e for e in sent["events"] if e["timestamp"] > since + 120]  # none near the edge
    assert len(recent) == len([e for e in sent["events"] if e["timestamp"] > since])
    want = expected(recent)
    assert "gamma" not in want  # its events are 4 days old
    for sort in ("date", "freq", "user"):
        listed = issues.list(sort=sort, period="24h")
        assert issues.names(listed) == order(want, sort), sort
    for issue, name in zip(listed, issues.names(listed)):
        got = {"count": int(issue["count"]), "userCount": issue["userCount"],
               "firstSeen": epoch(issue["firstSeen"]), "lastSeen": epoch(issue["lastSeen"])}  # fmt: skip
        assert got == want[name], name
        # `lifetime` is over every event of the group.
        assert int(issue["lifetime"]["count"]) == expected(sent["events"])[name]["count"], name


def test_pages_of_the_issue_list_follow_the_cursor(sent, issues):
    harness, want = issues.harness, order(expected(sent["events"]), "freq")
    url = (f"organizations/{harness.org}/issues/?project={harness.project_id}&statsPeriod=14d"
           f"&sort=freq&limit=2&query={RUN}")  # fmt: skip
    pages = []
    while url:
        response = harness.api(url)
        assert response.status_code == 200, response.text[:500]
        pages.append(issues.names(response.json()))
        assert response.headers.get("X-Hits") == str(len(PLAN)), response.headers
        link = response.links.get("next", {})
        url = link["url"].split("/api/0/", 1)[1] if link.get("results") == "true" else None
        assert len(pages) <= len(PLAN), pages
    assert pages == [want[0:2], want[2:4], want[4:6]]


def test_a_resolved_issue_stays_resolved_across_syncs(sent, issues):
    harness, group_id = issues.harness, issues.ids["gamma"]
    response = requests.put(f"{harness.web}/api/0/issues/{group_id}/", json={"status": "resolved"},
                            headers={"Authorization": f"Bearer {harness.token}"}, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    try:
        time.sleep(3)  # longer than the harness's sync_interval (2 s): the next search syncs
        unresolved = issues.names(issues.list(query="is:unresolved"))
        assert unresolved == [name for name in order(expected(sent["events"]), "date") if name != "gamma"]
        assert issues.names(issues.list(query="is:resolved")) == ["gamma"]
        assert harness.api(f"issues/{group_id}/").json()["status"] == "resolved"
    finally:
        requests.put(f"{harness.web}/api/0/issues/{group_id}/", json={"status": "unresolved"},
                     headers={"Authorization": f"Bearer {harness.token}"}, timeout=60)  # fmt: skip


@pytest.mark.parametrize("period,rollup,buckets", [("24h", HOUR, 24), ("14d", DAY, 14)])
def test_stats_equal_the_events_per_bucket(sent, issues, period, rollup, buckets):
    listed = issues.list(group_stats=period)
    for issue, name in zip(listed, issues.names(listed)):
        series = issue["stats"][period]
        assert buckets <= len(series) <= buckets + 1, (name, len(series))
        starts = [int(start) for start, _ in series]
        assert all(b - a == rollup for a, b in zip(starts, starts[1:])), name
        # The last bucket holds the time of the query (which may be a bucket after the sending).
        assert starts[-1] <= time.time() and sent["now"] < starts[-1] + rollup, name
        mine = [e["timestamp"] for e in sent["events"] if e["group"] == name]
        want = [sum(start <= ts < start + rollup for ts in mine) for start in starts]
        assert [count for _, count in series] == want, name
        assert sum(want) > 0 or name == "gamma"


def test_the_environment_filter_counts_only_that_environment(sent, issues):
    for environment in ("production", "staging"):
        want = expected(sent["events"], environment)
        listed = issues.list(sort="freq", environment=environment)
        assert issues.names(listed) == order(want, "freq"), environment
        for issue, name in zip(listed, issues.names(listed)):
            assert int(issue["count"]) == want[name]["count"], (environment, name)
            assert issue["userCount"] == want[name]["userCount"], (environment, name)
            assert epoch(issue["lastSeen"]) == want[name]["lastSeen"], (environment, name)
        stats = issues.list(environment=environment, group_stats="14d")
        for issue, name in zip(stats, issues.names(stats)):
            assert sum(count for _, count in issue["stats"]["14d"]) == want[name]["count"], (environment, name)


@pytest.mark.parametrize(
    "query,match",
    [
        ("release:app@2.0", lambda e: e["release"] == "app@2.0"),
        ("release:app@1.0", lambda e: e["release"] == "app@1.0"),
        ("color:red", lambda e: e["color"] == "red"),
        ("color:green", lambda e: e["color"] == "green"),
        ("!color:red", lambda e: e["color"] != "red"),
        ("environment:staging", lambda e: e["environment"] == "staging"),
        ("user.id:u9", lambda e: e["user"] == "u9"),
        (f"gamma happened {RUN}", lambda e: e["group"] == "gamma"),
        (f"failed {RUN}", lambda e: e["group"] == "epsilon"),
        (f"{RUN} color:blue", lambda e: e["color"] == "blue"),
    ],
)
def test_filters_list_exactly_the_matching_groups(sent, issues, query, match):
    want = expected([e for e in sent["events"] if match(e)])
    listed = issues.list(query=query)
    assert issues.names(listed) == order(want, "date"), query
    for issue, name in zip(listed, issues.names(listed)):
        # `count` is over the period; `filtered` over the events the query matches.
        assert int(issue["count"]) == expected(sent["events"])[name]["count"], (query, name)
        if issue.get("filtered"):
            assert int(issue["filtered"]["count"]) == want[name]["count"], (query, name)
            assert issue["filtered"]["userCount"] == want[name]["userCount"], (query, name)


# --- one issue --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PLAN))
def test_issue_details_latest_oldest_and_events(sent, issues, name):
    harness, group_id = issues.harness, issues.ids[name]
    mine = sorted((e for e in sent["events"] if e["group"] == name), key=lambda e: e["timestamp"])
    want = expected(sent["events"])[name]
    details = harness.api(f"issues/{group_id}/")
    assert details.status_code == 200, details.text[:500]
    body = details.json()
    assert body["title"] == title_of(name)
    assert int(body["count"]) == want["count"]
    assert body["userCount"] == want["userCount"]
    assert epoch(body["firstSeen"]) == want["firstSeen"]
    assert epoch(body["lastSeen"]) == want["lastSeen"]
    # Sentry reads these from GroupRelease rows: the releases of the first and the last event.
    assert (body["firstRelease"] or {}).get("version") == mine[0]["release"]
    assert (body["lastRelease"] or {}).get("version") == mine[-1]["release"]
    latest = harness.api(f"issues/{group_id}/events/latest/").json()
    assert latest["eventID"] == mine[-1]["event_id"]
    assert epoch(latest["dateCreated"]) == mine[-1]["timestamp"]
    assert {tag["key"]: tag["value"] for tag in latest["tags"]}["color"] == mine[-1]["color"]
    oldest = harness.api(f"issues/{group_id}/events/oldest/").json()
    assert oldest["eventID"] == mine[0]["event_id"]
    listed = harness.api(f"issues/{group_id}/events/?full=0").json()
    assert [event["eventID"] for event in listed] == [e["event_id"] for e in reversed(mine)]
    json_body = harness.api(f"projects/{harness.org}/{harness.project}/events/{mine[0]['event_id']}/json/").json()
    assert json_body["event_id"] == mine[0]["event_id"] and json_body["environment"] == mine[0]["environment"]


@pytest.mark.parametrize("name", list(PLAN))
def test_tags_and_tag_values(sent, issues, name):
    harness, group_id = issues.harness, issues.ids[name]
    mine = [e for e in sent["events"] if e["group"] == name]
    values_of = {
        "environment": Counter(e["environment"] for e in mine),
        "release": Counter(e["release"] for e in mine),
        "color": Counter(e["color"] for e in mine),
        "user": Counter(f"id:{e['user']}" for e in mine if e["user"]),
    }
    tags = harness.api(f"issues/{group_id}/tags/")
    assert tags.status_code == 200, tags.text[:500]
    by_key = {tag["key"]: tag for tag in tags.json()}
    for key, counts in values_of.items():
        if not counts:
            assert key not in by_key, key
            continue
        assert by_key[key]["totalValues"] == sum(counts.values()), key
        assert {v["value"]: v["count"] for v in by_key[key]["topValues"]} == dict(counts), key
        values = harness.api(f"issues/{group_id}/tags/{key}/values/")
        assert values.status_code == 200, values.text[:300]
        got = values.json()
        assert {v["value"]: v["count"] for v in got} == dict(counts), key
        for value in got:
            stamps = [e["timestamp"] for e in mine if key != "user" and e[key] == value["value"]
                      or key == "user" and e["user"] and f"id:{e['user']}" == value["value"]]  # fmt: skip
            assert epoch(value["firstSeen"]) == min(stamps) and epoch(value["lastSeen"]) == max(stamps), (key, value)


# --- headless Chromium ------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def artifacts() -> Path:
    directory = Path(os.environ.get("SENTRY_SLS_ARTIFACTS", "artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser(harness):
    """Debian's chromium, headless, driven by selenium through Debian's chromedriver; logged in
    through Sentry's login form."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("no chromium / chromedriver (scripts/test.sh installs them from Debian)")
    os.environ.setdefault("SE_OFFLINE", "1")  # never let Selenium Manager download a driver
    # The product tours would cover the pages: the admin has seen them all.
    harness.sentry_exec(
        "from django.utils import timezone\n"
        "from sentry.assistant.guides import GUIDES\n"
        "from sentry.models import AssistantActivity, User\n"
        "user = User.objects.get(email='admin@example.com')\n"
        "for guide_id in GUIDES.values():\n"
        "    AssistantActivity.objects.get_or_create(user=user, guide_id=guide_id,"
        " defaults={'dismissed_ts': timezone.now()})\n"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--lang=en-US"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        driver.get(f"{harness.web}/auth/login/")
        driver.find_element(By.ID, "id_username").send_keys("admin@example.com")
        driver.find_element(By.ID, "id_password").send_keys("admin")
        driver.find_element(By.ID, "id_password").submit()
        wait_for(driver, lambda: "/auth/login" not in driver.current_url, "login")
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - the page is still rendering
            pass
        time.sleep(0.5)
    driver.save_screenshot(str(artifacts() / "sentry-timeout.png"))
    raise AssertionError(f"timed out waiting for {what}; page text:\n{page_text(driver)[:3000]}")


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_chromium_renders_the_issues_page_with_our_counts(harness, sent, issues, browser):
    from selenium.webdriver.common.by import By

    want = expected(sent["events"])
    browser.get(f"{harness.web}/organizations/{harness.org}/issues/?project={harness.project_id}"
                f"&statsPeriod=14d&sort=freq&query={RUN}")  # fmt: skip

    def rows():
        found = browser.find_elements(By.CSS_SELECTOR, "[data-test-id='group']")
        # Loaded when every row shows its counts (they come from a second request).
        if len(found) != len(PLAN) or any(not text.splitlines()[-1].strip()[:1].isdigit()
                                          for text in (row.text for row in found)):  # fmt: skip
            return None
        return [row.text for row in found]

    wait_for(browser, rows, "the issue rows with their counts")
    time.sleep(1)
    texts = rows()
    browser.save_screenshot(str(artifacts() / "sentry-issues.png"))
    # The rows, in the computed freq order, each with its title, count and user count.
    assert len(texts) == len(PLAN)
    for text, name in zip(texts, order(want, "freq")):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert title_of(name).split(": ")[-1] in text, (name, text)
        # The events and users cells ("filtered" then total: the same here).
        assert lines[-2] in (str(want[name]["count"]), str(want[name]["count"]) * 2), (name, lines)
        assert lines[-1] in (str(want[name]["userCount"]), str(want[name]["userCount"]) * 2), (name, lines)
        days_old = (sent["now"] - want[name]["firstSeen"]) // DAY
        if days_old >= 2:
            assert f"{days_old}d old" in lines, (name, lines)
    assert "All Unresolved" in page_text(browser)


def test_chromium_renders_an_issue_page_with_our_numbers(harness, sent, issues, browser):
    name = "alpha"
    want = expected(sent["events"])[name]
    mine = sorted((e for e in sent["events"] if e["group"] == name), key=lambda e: e["timestamp"])
    last_24h = sum(e["timestamp"] > time.time() - DAY for e in mine)
    browser.get(f"{harness.web}/organizations/{harness.org}/issues/{issues.ids[name]}/?project={harness.project_id}")

    def loaded():
        text = page_text(browser)
        # The releases under First/Last Seen come from a later request than the counts.
        return ("Last 30 Days" in text and text.count("in release") >= 2
                and f"Event ID: {mine[-1]['event_id'][:8]}" in text.replace("\n", " "))  # fmt: skip

    wait_for(browser, loaded, "the issue page")
    time.sleep(1)
    text = page_text(browser)
    browser.save_screenshot(str(artifacts() / "sentry-issue.png"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert title_of(name) in lines
    assert lines[lines.index("EVENTS") + 1] == str(want["count"])
    assert lines[lines.index("USERS") + 1] == str(want["userCount"])
    assert lines[lines.index("Last 24 Hours") + 1] == str(last_24h)
    assert lines[lines.index("Last 30 Days") + 1] == str(want["count"])
    first_seen = lines.index("First Seen")
    assert lines[first_seen + 1] == f"{(sent['now'] - want['firstSeen']) // DAY} days ago"
    # "… in release 1.0" under First Seen and Last Seen (GroupRelease rows from the sync).
    assert lines[first_seen + 2] == f"in release {mine[0]['release'].split('@')[-1]}"
    last_seen = lines.index("Last Seen")
    assert lines[last_seen + 2] == f"in release {mine[-1]['release'].split('@')[-1]}"
    # The latest event's tags, from its body in the nodestore.
    assert mine[-1]["color"] in lines[lines.index("Tags"):]
