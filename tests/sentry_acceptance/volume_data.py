"""The realistic data set of the volume acceptance suite (test_sentry_volume.py), what sends it,
and the independent computations of what Sentry should show for it (pure Python over what was
sent; nothing here reads the store).

The data set (``plan(now)``, seeded: the same shape every run):

* three projects (``PROJECTS``; their slugs carry the plan's ``run`` token, ``RUN`` plus a
  suffix per store, so each run's issues are new in Postgres and no other data set shares their
  issue lists);
* ``ISSUES`` issues with a skewed size distribution (rank r gets about C / r^1.2 - 8 events: a few
  with thousands, a long tail of single events), two thirds messages, one third exceptions, each
  with its own route, level, environment mix, active period and user base;
* at least ``MIN_ERRORS`` error events over 14 days, every one at its own whole second (no ties
  in latest/oldest, seen times or event order), with environments, releases (a new release of
  each project every few days, the previous one still seen), users, and the tags ``browser``
  (sometimes missing), ``tier`` and ``server_name``;
* ``TRANSACTIONS`` transactions in the same projects (several names, log-normal durations in
  whole milliseconds, span statuses ok / internal_error / deadline_exceeded / ...), for the
  Performance page: ``performance_table`` computes its columns.

Issue messages are distinct in letter-only words (``word(i)``): Sentry groups messages after
replacing numbers, hex and uuid-like tokens, so digits must not be what tells two issues apart.
No event lies within ``EDGE_GAP`` of ``now - 24h``: a 24-hour period counts the same events for
any query made within a quarter hour of ``now``.

Sending (``build_envelopes`` then ``post_envelopes``): sentry-sdk builds every envelope itself
(``Client.capture_event`` through a transport that keeps them), then the envelopes are POSTed
concurrently (a quarter gzip-compressed as the SDK's transport does), each with an
``X-Sentry-Auth`` header.
"""

from __future__ import annotations

import copy
import gzip
import math
import random
import string
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests
import sentry_sdk
from sentry_sdk.transport import Transport
from sentry_sdk.utils import event_from_exception

HOUR, DAY = 3600, 86400
RUN = "".join(random.SystemRandom().choice(string.ascii_lowercase) for _ in range(8))  # letters only
SEED = 2117
PROJECTS = ("storefront", "payments", "backoffice")
PROJECT_WEIGHTS = (0.5, 0.3, 0.2)
ISSUES = 330
MIN_ERRORS = 20_000
TRANSACTIONS = 2_000
SPAN = 13 * DAY + 18 * HOUR  # the oldest event is this old (within statsPeriod=14d for hours)
NEWEST = 120  # the newest event is this many seconds old
EDGE_GAP = (20 * 60, 25 * 60)  # no event in [now - 24h - 20 min, now - 24h + 25 min]
RELEASES_PER_PROJECT = 5
USERS_PER_PROJECT = 400

TEMPLATES = (
    "Checkout timed out for basket {key}",
    "Payment declined by gateway for {key}",
    "Inventory lookup failed for item {key}",
    "Session expired unexpectedly in {key}",
    "Template rendering broke on {key}",
    "Coupon validation rejected {key}",
)
FREE_TEXT = "declined"  # only in the second template: the free-text filter's word
ROUTES = {
    "storefront": ("/products/{slug}", "/cart", "/checkout", "/search", "/account/orders"),
    "payments": ("/charge", "/refund", "/webhooks/gateway", "/payouts"),
    "backoffice": ("tasks.reindex_catalog", "tasks.send_digest", "/admin/reports", "/admin/users"),
}
ENVIRONMENT_MIXES = (
    (("production", 0.7), ("staging", 0.25), ("development", 0.05)),
    (("production", 1.0),),
    (("staging", 0.8), ("development", 0.2)),
    (("production", 0.5), ("staging", 0.5)),
    (("development", 1.0),),
)
BROWSERS = (("Chrome", 0.5), ("Firefox", 0.2), ("Safari", 0.15), ("Edge", 0.08), (None, 0.07))
TIERS = (("free", 0.6), ("pro", 0.3), ("enterprise", 0.1))
HOSTS = ("alder", "birch", "cedar", "larch")
TX_NAMES = {  # name: (op, median duration ms, weight)
    "storefront": (("/checkout", "http.server", 320, 3), ("/products/{slug}", "http.server", 90, 5),
                   ("/search", "http.server", 180, 2)),
    "payments": (("/charge", "http.server", 450, 3), ("/refund", "http.server", 260, 1)),
    "backoffice": (("tasks.reindex_catalog", "celery.task", 2400, 1), ("/admin/reports", "http.server", 700, 1)),
}  # fmt: skip
TX_STATUSES = (("ok", 0.86), ("internal_error", 0.05), ("deadline_exceeded", 0.03), ("not_found", 0.02),
               ("cancelled", 0.02), ("unknown", 0.01), ("permission_denied", 0.01))  # fmt: skip
NON_FAILURE_STATUS = {"ok", "cancelled", "unknown"}  # Sentry's failure_rate() (search/events/constants.py)


def word(index: int) -> str:
    """A distinct letter-only word for each index (consonant-vowel syllables)."""
    consonants, vowels = "bdfghklmnprstvz", "aeiou"
    syllables = [c + v for c in consonants for v in vowels]
    out = ""
    while True:
        index, rest = divmod(index, len(syllables))
        out = syllables[rest] + out
        if index == 0:
            return out + "x"
        index -= 1


def slug(project: str, run: str) -> str:
    return f"{project}-{run}"


@dataclass
class Issue:
    key: str  # the letter-only word that names it
    rank: int  # 1 = the largest
    project: str
    kind: str  # "message" | "exception"
    level: str
    route: str
    template: str
    size: int
    run: str

    @property
    def value(self) -> str:
        return f"{self.template.format(key=self.key)} {self.run}"

    @property
    def type_name(self) -> str:
        return f"{self.key.capitalize()}Error"

    @property
    def title(self) -> str:
        return f"{self.type_name}: {self.value}" if self.kind == "exception" else self.value


@dataclass
class ErrorEvent:
    issue: str
    project: str
    timestamp: int
    environment: str
    release: str
    user: str | None
    browser: str | None
    tier: str
    host: str
    event_id: str = ""

    def tag(self, key: str) -> str | None:
        """The value of the issue-page tag ``key`` for this event (None: the event lacks it)."""
        if key == "user":
            return f"id:{self.user}" if self.user else None
        if key == "server_name":
            return self.host
        return getattr(self, key)


@dataclass
class Transaction:
    project: str
    name: str
    op: str
    timestamp: int  # end, whole seconds
    duration_ms: int
    status: str
    environment: str
    release: str
    user: str | None
    event_id: str = ""
    trace_id: str = ""


@dataclass
class DataSet:
    now: int
    run: str
    issues: dict[str, Issue]
    events: list[ErrorEvent]
    transactions: list[Transaction]
    releases: dict[str, list[str]]
    project_ids: dict[str, int] = field(default_factory=dict)

    def of(self, key: str) -> list[ErrorEvent]:
        """The events of one issue, oldest first."""
        return self._by_issue()[key]

    def _by_issue(self) -> dict[str, list[ErrorEvent]]:
        if not hasattr(self, "_cache"):
            self._cache = defaultdict(list)
            for event in sorted(self.events, key=lambda e: e.timestamp):
                self._cache[event.issue].append(event)
        return self._cache


def _pick(rng: random.Random, weighted) -> object:
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def sizes() -> list[int]:
    """Events per issue by rank r: max(1, C / r^1.2 - 8) with the smallest C that makes at least
    MIN_ERRORS (about 5,600 for the largest, 4 for the median, 130-odd single-event issues)."""

    def of(c: int) -> list[int]:
        return [max(1, int(c / r**1.2) - 8) for r in range(1, ISSUES + 1)]

    low, high = 1, 4 * MIN_ERRORS
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if sum(of(mid)) >= MIN_ERRORS else (mid + 1, high)
    return of(low)


def plan(now: int, run: str = RUN) -> DataSet:
    """The data set for a clock at ``now``; ``run`` (letters only) goes into every message,
    project slug and release."""
    assert run.isalpha(), run
    rng = random.Random(SEED)
    oldest, newest = now - SPAN, now - NEWEST
    gap = (now - DAY - EDGE_GAP[0], now - DAY + EDGE_GAP[1])
    used: set[int] = set()

    def second(low: float, high: float) -> int:
        while True:
            ts = int(rng.uniform(low, high))
            if ts not in used and not gap[0] <= ts <= gap[1] and oldest <= ts <= newest:
                used.add(ts)
                return ts

    releases = {p: [f"{slug(p, run)}@1.{k}.0" for k in range(RELEASES_PER_PROJECT)] for p in PROJECTS}

    def release_at(project: str, ts: int) -> str:
        index = min(RELEASES_PER_PROJECT - 1, int((ts - oldest) / (SPAN / RELEASES_PER_PROJECT)))
        if index and rng.random() < 0.15:
            index -= 1  # a host still on the previous release
        return releases[project][index]

    def user_of(project: str, base: int) -> str | None:
        if rng.random() < 0.08:
            return None
        # A skewed user base: each issue's users cluster around its own offset.
        return f"{project[:2]}{(base + int(rng.paretovariate(0.7))) % USERS_PER_PROJECT}"

    issues, events = {}, []
    for rank, size in enumerate(sizes(), start=1):
        project = _pick(rng, zip(PROJECTS, PROJECT_WEIGHTS))
        kind = "exception" if rank % 3 == 0 else "message"
        issue = Issue(
            key=word(rank * 7 + 11), rank=rank, project=project, kind=kind,
            level="error" if kind == "exception" or rng.random() < 0.7 else "warning",
            route=rng.choice(ROUTES[project]), template=TEMPLATES[(rank * 5) % len(TEMPLATES)], size=size, run=run,
        )  # fmt: skip
        issues[issue.key] = issue
        # Its active period: the largest ones span (almost) the whole 14 days; others start and
        # stop at random; about half are still happening.
        start = oldest + rng.uniform(0, 0.1 * SPAN) if rank <= 8 else rng.uniform(oldest, newest - HOUR)
        end = newest if rng.random() < 0.5 or rank <= 8 else rng.uniform(start, newest)
        end = max(end, min(newest, start + 4 * size))  # room for distinct seconds
        mix, user_base = rng.choice(ENVIRONMENT_MIXES), rng.randrange(USERS_PER_PROJECT)
        for _ in range(size):
            ts = second(start, end)
            events.append(ErrorEvent(
                issue=issue.key, project=project, timestamp=ts, environment=_pick(rng, mix),
                release=release_at(project, ts), user=user_of(project, user_base),
                browser=_pick(rng, BROWSERS), tier=_pick(rng, TIERS), host=f"{project}-{rng.choice(HOSTS)}",
            ))  # fmt: skip
    transactions = []
    for _ in range(TRANSACTIONS):
        project = _pick(rng, zip(PROJECTS, PROJECT_WEIGHTS))
        name, op, median, _weight = _pick(rng, [(t, t[3]) for t in TX_NAMES[project]])
        ts = second(oldest, newest)
        transactions.append(Transaction(
            project=project, name=name, op=op, timestamp=ts,
            duration_ms=max(1, int(rng.lognormvariate(math.log(median), 0.9))),
            status=_pick(rng, TX_STATUSES), environment=_pick(rng, ENVIRONMENT_MIXES[0]),
            release=release_at(project, ts), user=user_of(project, 0),
            trace_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        ))  # fmt: skip
    return DataSet(now=now, run=run, issues=issues, events=events, transactions=transactions, releases=releases)


# --- building and sending the envelopes ------------------------------------------------------------


class _Keep(Transport):
    """A sentry-sdk transport that keeps the envelopes the SDK builds instead of sending them."""

    def __init__(self, options):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def flush(self, timeout, callback=None):
        return None


def _raise(type_name: str, value: str) -> None:
    raise type(type_name, (RuntimeError,), {"__module__": "storefront.errors"})(value)


def _exception_payload(issue: Issue, options) -> tuple[dict, dict]:
    try:
        _raise(issue.type_name, issue.value)
    except RuntimeError:
        return event_from_exception(sys.exc_info(), client_options=options)
    raise AssertionError("unreachable")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_envelopes(data: DataSet, ingest_port: int) -> list[tuple[int, bytes, str]]:
    """sentry-sdk's own envelopes of every event and transaction of ``data`` (``project_ids``
    set): (project id, serialised envelope, X-Sentry-Auth). Sets each one's ``event_id``."""

    out = []
    for project in PROJECTS:
        key = uuid.uuid5(uuid.NAMESPACE_DNS, slug(project, data.run)).hex
        project_id = data.project_ids[project]
        transport = _Keep({"dsn": f"http://{key}@127.0.0.1:{ingest_port}/{project_id}"})
        client = sentry_sdk.Client(
            f"http://{key}@127.0.0.1:{ingest_port}/{project_id}", transport=transport,
            default_integrations=False, max_breadcrumbs=0, sample_rate=1.0,
        )  # fmt: skip
        auth = f"Sentry sentry_version=7, sentry_key={key}, sentry_client=sentry.python/{sentry_sdk.VERSION}"
        templates = {}
        for event in (e for e in data.events if e.project == project):
            issue = data.issues[event.issue]
            if issue.kind == "exception":
                if issue.key not in templates:
                    templates[issue.key] = _exception_payload(issue, client.options)
                payload, hint = copy.deepcopy(templates[issue.key][0]), templates[issue.key][1]
                payload["level"] = issue.level
            else:
                payload, hint = {"message": issue.value, "level": issue.level}, None
            payload.update(
                timestamp=float(event.timestamp), environment=event.environment, release=event.release,
                transaction=issue.route, server_name=event.host, platform="python",
                tags={"tier": event.tier, **({"browser": event.browser} if event.browser else {})},
            )  # fmt: skip
            if event.user:
                payload["user"] = {"id": event.user}
            event.event_id = client.capture_event(payload, hint=hint)
            assert event.event_id, event
        for tx in (t for t in data.transactions if t.project == project):
            span_id = uuid.uuid4().hex[:16]
            start = tx.timestamp - tx.duration_ms / 1000
            payload = {
                "type": "transaction", "transaction": tx.name, "transaction_info": {"source": "route"},
                "start_timestamp": _iso(start), "timestamp": _iso(tx.timestamp), "platform": "python",
                "environment": tx.environment, "release": tx.release,
                "contexts": {"trace": {"trace_id": tx.trace_id, "span_id": span_id, "op": tx.op, "status": tx.status}},
                "spans": [{"trace_id": tx.trace_id, "parent_span_id": span_id, "span_id": uuid.uuid4().hex[:16],
                           "op": "db.query", "description": "SELECT 1", "start_timestamp": _iso(start),
                           "timestamp": _iso(start + tx.duration_ms / 2000), "status": "ok"}],
            }  # fmt: skip
            if tx.user:
                payload["user"] = {"id": tx.user}
            tx.event_id = client.capture_event(payload)
            assert tx.event_id, tx
        assert len(transport.envelopes) == sum(1 for e in data.events if e.project == project) + sum(
            1 for t in data.transactions if t.project == project
        )
        out.extend((project_id, envelope.serialize(), auth) for envelope in transport.envelopes)
    return out


def post_envelopes(envelopes: list[tuple[int, bytes, str]], ingest_port: int, threads: int = 16,
                   gzip_every: int = 4) -> None:  # fmt: skip
    """POSTs every envelope (every ``gzip_every``-th gzip-compressed as the SDK's transport does,
    the others plain: twice the throughput on two cores), one requests.Session per thread;
    retries 429/503 after their Retry-After; raises unless each one is finally answered 200."""
    local = threading.local()

    def post(numbered) -> None:
        index, (project_id, body, auth) = numbered
        compress = gzip_every and index % gzip_every == 0
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        data = gzip.compress(body, compresslevel=6) if compress else body
        headers = {"X-Sentry-Auth": auth, "Content-Type": "application/x-sentry-envelope"}
        headers.update({"Content-Encoding": "gzip"} if compress else {})
        for _ in range(30):
            response = session.post(
                f"http://127.0.0.1:{ingest_port}/api/{project_id}/envelope/", data=data, timeout=60, headers=headers
            )
            if response.status_code not in (429, 503):
                break
            time.sleep(min(5.0, float(response.headers.get("Retry-After") or 0.5)))
        assert response.status_code == 200, (response.status_code, response.text[:300])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, enumerate(envelopes), chunksize=64))


# --- the independent computations ---------------------------------------------------------------------


def stats(events, match=None) -> dict[str, dict[str, int]]:
    """Per issue: count, userCount, firstSeen, lastSeen (epoch s) of the events ``match`` keeps."""
    out: dict[str, dict] = {}
    for event in events:
        if match is not None and not match(event):
            continue
        row = out.setdefault(event.issue, {"count": 0, "users": set(), "firstSeen": event.timestamp,
                                           "lastSeen": event.timestamp})  # fmt: skip
        row["count"] += 1
        if event.user:
            row["users"].add(event.user)
        row["firstSeen"] = min(row["firstSeen"], event.timestamp)
        row["lastSeen"] = max(row["lastSeen"], event.timestamp)
    return {key: {"count": row["count"], "userCount": len(row["users"]), "firstSeen": row["firstSeen"],
                  "lastSeen": row["lastSeen"]} for key, row in out.items()}  # fmt: skip


SORT_FIELD = {"date": "lastSeen", "new": "firstSeen", "freq": "count", "user": "userCount"}


def ranking(issue_stats: dict[str, dict[str, int]], sort: str) -> list[tuple[int, str]]:
    """(score, issue key), best first, as Sentry 23.7.1's search ranks them (search/snuba/
    executors.py: date = last_seen, new = first_seen, freq = times_seen, user = user_count; ties
    in any order)."""
    return sorted(((row[SORT_FIELD[sort]], key) for key, row in issue_stats.items()), key=lambda t: -t[0])


def priority(timestamps, now: float) -> float:
    """Sentry 23.7.1's ``priority`` sort score of an issue whose events (in the period) happened at
    ``timestamps``, at time ``now``, with its default weights (search/snuba/executors.py,
    priority_aggregation_impl, v2, not normalised: log level and stack trace weights 0, event
    half-life 4 h, issue half-life 12 h, relative volume weight 1 over the last hour against the
    last 7 days)."""
    ages = [(int(now) - ts) / 3600 for ts in timestamps]
    issue_score = max(0.01, 1 / 2 ** min(16, max(ages) / 12))
    event_score = math.log(1 + sum(1 / 2 ** (age / 4) for age in ages))
    recent = sum(age * 3600 <= HOUR for age in ages)
    overall = sum(age * 3600 <= 7 * DAY for age in ages)
    return issue_score * max(0.01, event_score) * max(0.01, recent / (overall + 1) / 10)


def buckets(timestamps, starts, rollup) -> list[int]:
    return [sum(start <= ts < start + rollup for ts in timestamps) for start in starts]


def tag_values(events, key: str) -> dict[str, dict[str, int]]:
    """Per value of tag ``key``: count, firstSeen, lastSeen over ``events``."""
    out: dict[str, dict] = {}
    for event in events:
        value = event.tag(key)
        if value is None:
            continue
        row = out.setdefault(value, {"count": 0, "firstSeen": event.timestamp, "lastSeen": event.timestamp})
        row["count"] += 1
        row["firstSeen"] = min(row["firstSeen"], event.timestamp)
        row["lastSeen"] = max(row["lastSeen"], event.timestamp)
    return out


def quantile(values, level: float) -> float:
    """Linear interpolation between closest ranks (ClickHouse's ``quantile`` below its 8,192-value
    reservoir, numpy's default)."""
    ordered = sorted(values)
    position = level * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def performance_table(transactions, since: int, until: int, threshold: int = 300) -> dict[tuple[str, str], dict]:
    """The Performance page's table over ``transactions`` with since <= timestamp < until, per
    (project, transaction name): count, tpm, p50, p75, p95, avg duration, failure_rate, apdex,
    count_unique(user), count_miserable(user) and user_misery, by Sentry 23.7.1's definitions
    (search/events/datasets/discover.py, constants.py: failure = a status other than ok,
    cancelled, unknown; apdex(T) = (satisfied + tolerated / 2) / total; miserable: duration
    > 4T; user_misery = (miserable + 5.8875) / (users + 5.8875 + 111.8625))."""
    groups = defaultdict(list)
    for tx in transactions:
        if since <= tx.timestamp < until:
            groups[(tx.project, tx.name)].append(tx)
    minutes = (until - since) / 60
    out = {}
    for key, rows in groups.items():
        durations = [tx.duration_ms for tx in rows]
        users = {tx.user for tx in rows if tx.user}
        miserable = {tx.user for tx in rows if tx.user and tx.duration_ms > 4 * threshold}
        satisfied = sum(d <= threshold for d in durations)
        tolerated = sum(threshold < d <= 4 * threshold for d in durations)
        out[key] = {
            "count": len(rows), "tpm": len(rows) / minutes,
            "p50": quantile(durations, 0.5), "p75": quantile(durations, 0.75), "p95": quantile(durations, 0.95),
            "avg": sum(durations) / len(durations),
            "failure_rate": sum(tx.status not in NON_FAILURE_STATUS for tx in rows) / len(rows),
            "apdex": (satisfied + tolerated / 2) / len(rows),
            "count_unique_user": len(users), "count_miserable_user": len(miserable),
            "user_misery": (len(miserable) + 5.8875) / (len(users) + 5.8875 + 111.8625),
        }  # fmt: skip
    return out


def shape(data: DataSet) -> dict[str, object]:
    """What the data set is, in numbers (the report and the shape test)."""
    counts = Counter(e.issue for e in data.events)
    ordered = sorted(counts.values(), reverse=True)
    return {
        "projects": len({i.project for i in data.issues.values()}),
        "issues": len(data.issues),
        "errors": len(data.events),
        "transactions": len(data.transactions),
        "largest": ordered[:5],
        "median": ordered[len(ordered) // 2],
        "single_event_issues": sum(1 for c in ordered if c == 1),
        "days": (max(e.timestamp for e in data.events) - min(e.timestamp for e in data.events)) / DAY,
        "environments": sorted({e.environment for e in data.events}),
        "releases": sum(len(v) for v in data.releases.values()),
        "users": len({(e.project, e.user) for e in data.events if e.user}),
    }
