"""Keeps Postgres issue rows in step with the log store.

sentry-sls's groups API (``GET /v1/groups?project_id=&since=``) says which groups of a project
changed and what they look like now (computed from the events in the log store). For each, this
module upserts what Sentry's pages read from Postgres:

* ``Group`` (``sentry_groupedmessage``) with ``id`` = the log store's ``group_id`` (in
  [2^52, 2^53): never a Postgres sequence id), a ``short_id`` from the project counter, status
  unresolved/new, ``type`` 1 (error), level, platform, logger, culprit, message, ``data``
  (type, title, culprit, location, metadata, last_received), first/last seen, times seen, and
  ``priority`` where the model has it (Sentry ≥ 24);
* ``GroupHash`` for every grouping hash of the latest event;
* ``Environment`` + ``EnvironmentProject`` + ``GroupEnvironment`` for each environment;
* ``Release`` (+ ``ReleaseProject``) for each release, and ``GroupRelease`` per (release,
  environment) with its first/last seen: the issue's first release (also ``Group.first_release``
  and ``GroupEnvironment.first_release``: the release of the earliest event) and last release.

Existing groups keep their status, short id and anything a user changed; seen times only widen
and ``times_seen`` is the log store's count. Everything is idempotent: a group seen twice is
upserted twice to the same state.

Also a command (run inside a Sentry environment, e.g. ``sentry exec``)::

    python -m sentry_search_sls.sync [--interval SECONDS] [--project ID ...]

once, or (``--interval``) every SECONDS until stopped (SIGTERM/SIGINT).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, Optional

from sentry_nodestore_sls._http import ServiceClient, service_url_from_environment

logger = logging.getLogger("sentry_sls")

LEVELS = {"sample": 0, "debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}
# Sentry's PriorityLevel (where the model has `priority`): HIGH 75, MEDIUM 50, LOW 25.
PRIORITY_OF_LEVEL = {"fatal": 75, "error": 75, "warning": 50, "info": 25, "debug": 25}
#: Pages of the groups API read in one sync of a project.
MAX_PAGES = 20
#: How far back ``since`` is moved from the last sync's start: records reach the store after
#: the ingest spool ships them, so a sync must look a little before its own start.
LAG_SECONDS = 300
#: How often a project's sync reads the whole TTL window again (``since`` = 0). A record's
#: ``received`` is when ingest accepted it; one that reaches the store more than LAG_SECONDS
#: later (SLS down for a while, the ingest spool catching up) is older than the incremental
#: ``since`` of every later sync, so only a full sync picks it up.
FULL_SYNC_SECONDS = 3600

_state_lock = threading.Lock()
_last_until: Dict[int, int] = {}
_last_sync: Dict[int, float] = {}
_last_full: Dict[int, int] = {}


def client_from_settings() -> ServiceClient:
    return ServiceClient(service_url_from_environment(), retry_attempts=2, retry_delay=0.2, read_timeout=30.0)


def _datetime(milliseconds: Optional[int]) -> Optional[datetime]:
    if milliseconds is None:
        return None
    return datetime.fromtimestamp(milliseconds / 1000.0, tz=timezone.utc)


def fetch_changed_groups(client: ServiceClient, project_id: int, since: int) -> Iterable[Dict[str, Any]]:
    """Every changed group of the project since ``since`` (epoch seconds), page by page."""
    for _ in range(MAX_PAGES):
        answer = client.get_json(f"/v1/groups?project_id={int(project_id)}&since={int(since)}&limit=1000")
        for group in answer.get("groups") or []:
            yield group
        if not answer.get("truncated"):
            return
        next_since = int(answer.get("next_since") or since)
        if next_since <= since:
            return  # more than a page of groups within one second: the next sync goes on
        since = next_since


def upsert_group(project, group: Dict[str, Any]) -> None:
    """Creates or updates the Postgres rows of one group of ``project`` (see the module doc)."""
    from django.db import IntegrityError, router, transaction

    from sentry.models import Environment, Group, GroupEnvironment, GroupHash, GroupStatus, Release

    try:
        from sentry.types.group import GroupSubStatus

        new_substatus: Optional[int] = GroupSubStatus.NEW
    except ImportError:  # pragma: no cover - older Sentry
        new_substatus = None

    group_id = int(group["group_id"])
    level_name = (group.get("level") or "error").lower()
    first_seen = _datetime(group.get("first_seen")) or datetime.now(timezone.utc)
    last_seen = _datetime(group.get("last_seen")) or first_seen
    title = group.get("title") or "<unlabeled event>"
    data = {
        "type": group.get("type") or "default",
        "title": title,
        "culprit": group.get("culprit") or "",
        "location": group.get("location"),
        "metadata": group.get("metadata") or {},
        "last_received": last_seen.timestamp(),
    }
    field_names = {field.name for field in Group._meta.get_fields()}
    values = {
        "logger": (group.get("logger") or "")[:64],
        "level": LEVELS.get(level_name, 40),
        "message": (group.get("message") or title)[:1024],
        "culprit": (group.get("culprit") or "")[:200],
        "platform": (group.get("platform") or None),
        "data": data,
        "times_seen": max(1, int(group.get("times_seen") or 1)),
    }
    using = router.db_for_write(Group)
    with transaction.atomic(using):
        existing = Group.objects.select_for_update().filter(id=group_id).first()
        if existing is None:
            create = dict(values)
            create.update(
                id=group_id,
                project=project,
                short_id=project.next_short_id(),
                status=GroupStatus.UNRESOLVED,
                first_seen=first_seen,
                last_seen=last_seen,
                active_at=first_seen,
                type=1,
            )
            if new_substatus is not None and "substatus" in field_names:
                create["substatus"] = new_substatus
            if "priority" in field_names:
                create["priority"] = PRIORITY_OF_LEVEL.get(level_name, 75)
            try:
                with transaction.atomic(using):
                    Group.objects.create(**create)
            except IntegrityError:  # created meanwhile by another process
                existing = Group.objects.select_for_update().get(id=group_id)
        if existing is not None:
            if existing.project_id != project.id:
                logger.warning("group %s belongs to project %s, not %s", group_id, existing.project_id, project.id)
                return
            update = dict(values)
            update["first_seen"] = min(existing.first_seen or first_seen, first_seen)
            update["last_seen"] = max(existing.last_seen or last_seen, last_seen)
            Group.objects.filter(id=group_id).update(**update)

    hashes = [group.get("primary_hash")] + list(group.get("hashes") or [])
    for hash_value in dict.fromkeys(h for h in hashes if h):
        GroupHash.objects.get_or_create(project=project, hash=hash_value, defaults={"group_id": group_id})

    releases = {}
    for version in group.get("releases") or []:
        try:
            releases[version] = Release.get_or_create(project=project, version=version, date_added=first_seen)
        except Exception:  # noqa: BLE001 - an invalid version must not stop the sync
            logger.exception("sentry-sls: could not create release %r", version)
    # Per (release, environment): first/last seen. Older services do not send it.
    release_seen = [
        seen for seen in group.get("release_seen") or [] if seen.get("release") in releases and seen.get("first_seen")
    ]
    earliest = {}  # environment ("" for all) -> (first seen, Release)
    for seen in release_seen:
        candidate = (seen["first_seen"], releases[seen["release"]])
        for key in ("", seen.get("environment") or ""):
            if key not in earliest or candidate[0] < earliest[key][0]:
                earliest[key] = candidate
    if "" in earliest:
        first_release = earliest[""][1]
    else:
        first_release = next(iter(releases.values())) if len(releases) == 1 else None
    if first_release is not None:
        Group.objects.filter(id=group_id, first_release__isnull=True).update(first_release=first_release)
    for seen in release_seen:
        _upsert_group_release(project, group_id, releases[seen["release"]], seen)
    if release_seen:
        _forget_cached_release_versions(project.id, group_id)
    for name in group.get("environments") or []:
        environment = Environment.get_or_create(project, name)
        environment_release = earliest[name][1] if name in earliest else first_release
        # Sentry shows an issue's first seen within an environment from this row: the first
        # event of that environment, as the event manager creates it (never later than before).
        environment_first = _datetime(earliest[name][0]) if name in earliest else first_seen
        row, created = GroupEnvironment.objects.get_or_create(
            group_id=group_id,
            environment_id=environment.id,
            defaults={"first_release": environment_release, "first_seen": environment_first},
        )
        if not created and environment_first and (row.first_seen is None or environment_first < row.first_seen):
            GroupEnvironment.objects.filter(id=row.id).update(first_seen=environment_first)


def _upsert_group_release(project, group_id: int, release, seen: Dict[str, Any]) -> None:
    """One ``GroupRelease`` row: created, or its seen times widened."""
    from django.db import IntegrityError, router, transaction

    from sentry.models import GroupRelease

    environment = (seen.get("environment") or "")[:64]
    first = _datetime(seen.get("first_seen"))
    last = _datetime(seen.get("last_seen")) or first
    key = {"group_id": group_id, "release_id": release.id, "environment": environment}
    row = GroupRelease.objects.filter(**key).first()
    if row is None:
        try:
            with transaction.atomic(router.db_for_write(GroupRelease)):
                GroupRelease.objects.create(project_id=project.id, first_seen=first, last_seen=last, **key)
            return
        except IntegrityError:  # created meanwhile by another process
            row = GroupRelease.objects.get(**key)
    update = {}
    if first < row.first_seen:
        update["first_seen"] = first
    if last > row.last_seen:
        update["last_seen"] = last
    if update:
        GroupRelease.objects.filter(id=row.id).update(**update)


def _forget_cached_release_versions(project_id: int, group_id: int) -> None:
    """Sentry caches an issue's first/last release version (an hour, even "none"): drop it."""
    try:
        from sentry.models.release import _get_cache_key
        from sentry.utils.cache import cache

        cache.delete_many([_get_cache_key(project_id, group_id, first) for first in (True, False)])
    except Exception:  # noqa: BLE001 - other Sentry versions: the cache expires by itself
        logger.debug("sentry-sls: release version cache not cleared", exc_info=True)


def sync_project(
    project,
    client: Optional[ServiceClient] = None,
    since: Optional[int] = None,
    full_every: float = FULL_SYNC_SECONDS,
) -> int:
    """Upserts the project's groups changed since the last sync (or ``since``); returns how many.

    The first sync of a project in this process, and one every ``full_every`` seconds, reads the
    whole TTL window (see FULL_SYNC_SECONDS); the others only what changed since the previous.
    """
    client = client or client_from_settings()
    started = int(time.time())
    full = False
    with _state_lock:
        if since is None:
            last_full = _last_full.get(project.id)
            if project.id not in _last_until or last_full is None or started - last_full >= full_every:
                since, full = 0, True
            else:
                since = max(0, _last_until[project.id] - LAG_SECONDS)
    count = 0
    for group in fetch_changed_groups(client, project.id, since):
        upsert_group(project, group)
        count += 1
    with _state_lock:
        _last_until[project.id] = started
        if full:
            _last_full[project.id] = started
    return count


def maybe_sync(
    projects, min_interval: float, client: Optional[ServiceClient] = None, full_every: float = FULL_SYNC_SECONDS
) -> None:
    """Syncs each project at most every ``min_interval`` seconds (per process); never raises."""
    now = time.monotonic()
    for project in projects:
        with _state_lock:
            last = _last_sync.get(project.id)
            if last is not None and now - last < min_interval:
                continue
            _last_sync[project.id] = now
        try:
            synced = sync_project(project, client=client, full_every=full_every)
            if synced:
                logger.info("sentry-sls: %d group(s) of project %s synced", synced, project.id)
        except Exception:  # noqa: BLE001 - the Issues page still shows what Postgres has
            logger.exception("sentry-sls: group sync of project %s failed", project.id)
            with _state_lock:
                _last_sync.pop(project.id, None)


def main(argv=None) -> int:
    """``python -m sentry_search_sls.sync [--interval N] [--project ID ...]``.

    Without ``--interval``: one sync of every project (or the given ones), then exit (1 if a
    project failed). With it: a sync every N seconds until SIGTERM or SIGINT (exit 0); each
    round after the first reads only what changed since the one before, and a round that fails
    (sentry-sls down) is logged and retried at the next one.
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Sync Sentry issue rows from sentry-sls")
    parser.add_argument("--interval", type=float, default=0, help="repeat every N seconds (0: once)")
    parser.add_argument("--project", type=int, action="append", help="project id (default: all)")
    parser.add_argument("--full-every", type=float, default=FULL_SYNC_SECONDS,
                        help="with --interval: read the whole TTL window every N seconds (default 3600)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - raises when Sentry is not configured
    except Exception:  # noqa: BLE001
        from sentry.runner import configure

        configure()
    from sentry.models import Project

    stop = threading.Event()
    if args.interval and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    client = client_from_settings()
    failed = False
    while not stop.is_set():
        projects = Project.objects.all()
        if args.project:
            projects = projects.filter(id__in=args.project)
        for project in projects:
            try:
                synced = sync_project(project, client=client, full_every=args.full_every)
            except Exception as error:  # noqa: BLE001 - the next round tries again
                failed = True
                logger.exception("sentry-sls: group sync of project %s failed", project.id)
                print(f"project {project.id}: sync failed: {error}", flush=True)
                continue
            print(f"project {project.id}: {synced} group(s) synced", flush=True)
        if not args.interval:
            return 1 if failed else 0
        stop.wait(args.interval)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
