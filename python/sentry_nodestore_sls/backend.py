"""SLSNodeStorage: a Sentry NodeStorage whose nodes live in the log store.

Configured as in Alibaba Cloud's guide::

    SENTRY_NODESTORE = "sentry_nodestore_sls.SLSNodeStorage"
    SENTRY_NODESTORE_OPTIONS = {
        "endpoint": ..., "access_key_id": ..., "access_key_secret": ..., "project": ...,
        "logstore": "logstore-rum", "compression": True, "retry_attempts": 3,
        "retry_delay": 0.5, "default_ttl_days": 30,
    }

The backend talks to the sentry-sls service, not to SLS: the service holds the SLS keys and
knows the logstore. ``service_url`` (default: the ``SNUBA`` environment variable, then
``SENTRY_SNUBA``, then ``http://127.0.0.1:1218``) is where it is. The SLS options are accepted so
that the guide's configuration works unchanged; the secret is never logged or shown.

How the NodeStorage contract maps to the service (``/v1/nodes/``):

* ``get``/``get_multi``: ``GET /v1/nodes/{id}``, ``POST /v1/nodes/get_multi`` (one request for up
  to 1000 ids). Bytes come back exactly as stored (Sentry's node encoding: compact sorted JSON,
  then subkey lines), and Sentry's own base class decodes them, subkeys included.
* ``set``/``set_subkeys``: Sentry's base class encodes, then ``PUT /v1/nodes/{id}``. ``ttl`` is
  not applied per node: the logstore's retention is every node's TTL.
* ``delete``/``delete_multi``: a log store cannot delete, so the service writes tombstones that
  later reads honour (a later ``set`` makes the node visible again).
* ``cleanup``: nothing to do: the log store drops data older than its retention itself.
* ``bootstrap``, ``validate``: cheap, no network (they run in every Sentry process at start).

A service that cannot be reached (or answers 502/503/504) is retried ``retry_attempts`` times
with ``retry_delay`` back-off, each attempt bounded by ``connect_timeout``/``read_timeout``; then
:class:`ServiceUnavailable` is raised, as Sentry's own backends raise on a storage outage (the API
answers 500, the web process lives on). A node that does not exist is ``None``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Dict, Iterable, List, Optional
from urllib.parse import quote

from ._http import ServiceClient, ServiceError, service_url_from_environment

logger = logging.getLogger("sentry_sls")

try:  # Sentry 23.x and 25.9 (kept as a re-export for plugins)
    from sentry.nodestore.base import NodeStorage as _NodeStorage
except ImportError:  # pragma: no cover - depends on the Sentry version
    try:  # Sentry 25.9+ after the move to sentry.services
        from sentry.services.nodestore.base import NodeStorage as _NodeStorage
    except ImportError:
        _NodeStorage = None

#: Most ids the service takes in one bulk call.
MAX_IDS_PER_CALL = 1000


if _NodeStorage is None:

    class _FallbackNodeStorage(threading.local):
        """The NodeStorage surface, for use (and tests) without Sentry installed.

        Same node encoding as Sentry's base class: the main value as compact sorted ASCII
        JSON, then for each subkey its name and its JSON on lines of their own.
        """

        def _encode(self, data):
            dump = lambda value: json.dumps(  # noqa: E731
                value, separators=(",", ":"), sort_keys=True, ensure_ascii=True
            ).encode("utf-8")
            data = dict(data)
            lines = [dump(data.pop(None))]
            for key, value in data.items():
                lines.append(key.encode("ascii"))
                lines.append(dump(value))
            return b"\n".join(lines)

        def _decode(self, value, subkey):
            if value is None:
                return None
            lines = value.splitlines()
            if subkey is None:
                return json.loads(lines[0]) if lines else None
            wanted = subkey.encode("ascii")
            names = lines[1::2]
            for position, name in enumerate(names):
                if name.strip() == wanted and 2 + 2 * position < len(lines):
                    return json.loads(lines[2 + 2 * position])
            return None

        def get(self, id, subkey=None):
            return self._decode(self._get_bytes(id), subkey)

        def get_multi(self, id_list, subkey=None):
            return {
                id: self._decode(value, subkey) for id, value in self._get_bytes_multi(id_list).items()
            }

        def set(self, id, data, ttl=None):
            return self.set_subkeys(id, {None: data}, ttl=ttl)

        def set_subkeys(self, id, data, ttl=None):
            self._set_bytes(id, self._encode(data), ttl=ttl)

        def validate(self):
            pass

        def setup(self):
            pass

        def _delete_cache_item(self, id):
            pass

        def _delete_cache_items(self, id_list):
            pass

    _NodeStorage = _FallbackNodeStorage


class SLSNodeStorage(_NodeStorage):
    """Sentry's NodeStorage over the sentry-sls nodestore API (see the module docstring).

    A subclass of ``threading.local`` (through NodeStorage): Python runs ``__init__`` again in
    every thread that uses the instance, so it only stores options; the HTTP session is made
    per thread on first use.
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        access_key_id: Optional[str] = None,
        access_key_secret: Optional[str] = None,
        project: Optional[str] = None,
        logstore: Optional[str] = None,
        compression: object = True,
        retry_attempts: int = 3,
        retry_delay: float = 0.5,
        default_ttl_days: Optional[int] = None,
        service_url: Optional[str] = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
    ) -> None:
        # The SLS options: sentry-sls holds the keys and the logstore; kept for the record.
        self.endpoint = endpoint or ""
        self.access_key_id = access_key_id or ""
        self._has_secret = bool(access_key_secret)
        self.project = project or ""
        self.logstore = logstore or ""
        self.compression = compression
        self.default_ttl_days = default_ttl_days
        self.retry_attempts = retry_attempts
        self.retry_delay = retry_delay
        self.service_url = (service_url or service_url_from_environment()).rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._client = None

    def __repr__(self) -> str:
        return (
            f"SLSNodeStorage(service_url={self.service_url!r}, project={self.project!r}, "
            f"logstore={self.logstore!r})"
        )

    @property
    def client(self) -> ServiceClient:
        if self._client is None:
            self._client = ServiceClient(
                self.service_url,
                retry_attempts=self.retry_attempts,
                retry_delay=self.retry_delay,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
            )
        return self._client

    # --- Service -------------------------------------------------------------------------

    def validate(self) -> None:
        """Checks the options only (no network: this runs in every Sentry process)."""
        problems = []
        if not self.service_url.startswith(("http://", "https://")):
            problems.append(f"service_url must be an http(s) URL, got {self.service_url!r}")
        try:
            if int(self.retry_attempts) < 1:
                problems.append("retry_attempts must be at least 1")
            if float(self.retry_delay) < 0:
                problems.append("retry_delay must not be negative")
        except (TypeError, ValueError):
            problems.append("retry_attempts and retry_delay must be numbers")
        if self.default_ttl_days is not None:
            try:
                if int(self.default_ttl_days) < 1:
                    problems.append("default_ttl_days must be at least 1")
            except (TypeError, ValueError):
                problems.append("default_ttl_days must be a number of days")
        if problems:
            message = "SLSNodeStorage: " + "; ".join(problems)
            try:
                from sentry.exceptions import InvalidConfiguration
            except ImportError:  # pragma: no cover - without Sentry
                raise ValueError(message)
            raise InvalidConfiguration(message)

    def bootstrap(self) -> None:
        """Nothing to create: the logstore and its index are made by ``sentry-sls setup``."""

    def cleanup(self, cutoff_timestamp) -> None:
        """Nothing to do: the log store drops data older than its retention (``SLS_TTL``)."""
        logger.info("SLSNodeStorage.cleanup: nodes expire with the logstore's retention")

    # --- reads ---------------------------------------------------------------------------

    def _get_bytes(self, id: str) -> Optional[bytes]:
        status, body = self.client.request("GET", f"/v1/nodes/{quote(id, safe='')}", ok=(200, 404))
        if status == 404:
            return None
        return body

    def _get_bytes_multi(self, id_list: Iterable[str]) -> Dict[str, Optional[bytes]]:
        ids: List[str] = list(dict.fromkeys(id_list))
        result: Dict[str, Optional[bytes]] = {}
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            chunk = ids[start : start + MAX_IDS_PER_CALL]
            answer = self.client.post_json("/v1/nodes/get_multi", {"ids": chunk})
            nodes = answer.get("nodes")
            if not isinstance(nodes, dict):
                raise ServiceError("sentry-sls get_multi: answer without nodes")
            for id in chunk:
                value = nodes.get(id)
                result[id] = value.encode("utf-8") if isinstance(value, str) else None
        return result

    # --- writes --------------------------------------------------------------------------

    def _set_bytes(self, id: str, data: bytes, ttl=None) -> None:
        # ttl: every node lives as long as the logstore keeps data.
        self.client.request("PUT", f"/v1/nodes/{quote(id, safe='')}", data=bytes(data))

    def delete(self, id: str) -> None:
        self.client.request("DELETE", f"/v1/nodes/{quote(id, safe='')}")
        self._delete_cache_item(id)

    def delete_multi(self, id_list: Iterable[str]) -> None:
        ids = list(dict.fromkeys(id_list))
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            self.client.post_json("/v1/nodes/delete_multi", {"ids": ids[start : start + MAX_IDS_PER_CALL]})
        self._delete_cache_items(ids)
