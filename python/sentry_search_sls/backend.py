"""SLSGroupSearchBackend: sync the groups of the searched projects, then Sentry's Snuba search.

``SENTRY_SEARCH = "sentry_search_sls.SLSGroupSearchBackend"`` (or the guide's
``sentry.search.sls.backend.SLSGroupSearchBackend`` through the image's shim). Options
(``SENTRY_SEARCH_OPTIONS``): ``sync_interval`` (seconds between syncs of one project per
process, default 10), ``full_sync_interval`` (seconds between syncs of the whole TTL window,
default 3600: records that reach the store late), ``sync`` (False turns syncing off: a separate
``python -m sentry_search_sls.sync --interval N`` does it).

A sync that fails (service down) is logged and the search runs on the rows Postgres already
has: the Issues page keeps working, with what was synced before.
"""

from __future__ import annotations

from sentry.search.snuba.backend import EventsDatasetSnubaSearchBackend

from .sync import maybe_sync


class SLSGroupSearchBackend(EventsDatasetSnubaSearchBackend):
    def __init__(self, sync_interval: float = 10.0, sync: bool = True, full_sync_interval: float = 3600.0, **options):
        super().__init__(**options)
        self.sync_interval = float(sync_interval)
        self.full_sync_interval = float(full_sync_interval)
        self.sync_enabled = bool(sync)

    def query(self, projects, *args, **kwargs):
        if self.sync_enabled:
            maybe_sync(projects, self.sync_interval, full_every=self.full_sync_interval)
        return super().query(projects, *args, **kwargs)
