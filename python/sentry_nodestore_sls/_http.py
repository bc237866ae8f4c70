"""A small HTTP client for the sentry-sls service (the `/v1/` API on its Snuba listener).

Bounded in every way a web process needs: connect and read timeouts on each attempt, a fixed
number of attempts with exponential back-off for what is worth retrying (connection errors,
timeouts, 502/503/504), and errors that say what failed without echoing secrets. One
``requests.Session`` per thread (sessions are not thread-safe), created on first use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Dict, Iterable, Optional, Tuple

logger = logging.getLogger("sentry_sls")

DEFAULT_SERVICE_URL = "http://127.0.0.1:1218"
RETRYABLE_STATUS = (502, 503, 504)


class ServiceError(Exception):
    """The sentry-sls service answered with an error, or could not be reached."""

    def __init__(self, message: str, status: Optional[int] = None, kind: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.kind = kind


class ServiceUnavailable(ServiceError):
    """The service could not be reached, timed out or said it is unavailable (after retries)."""


def service_url_from_environment() -> str:
    """The service URL: ``SNUBA`` (what self-hosted sets), else Django's ``SENTRY_SNUBA``."""
    url = os.environ.get("SNUBA") or os.environ.get("SENTRY_SNUBA")
    if not url:
        try:  # Sentry's settings, when configured; never fatal
            from django.conf import settings

            url = getattr(settings, "SENTRY_SNUBA", None)
        except Exception:  # noqa: BLE001 - settings not configured
            url = None
    return (url or DEFAULT_SERVICE_URL).rstrip("/")


class ServiceClient:
    """Calls ``{base_url}/v1/...`` with retries; thread-safe."""

    def __init__(
        self,
        base_url: str,
        retry_attempts: int = 3,
        retry_delay: float = 0.5,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_retry_delay: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, int(retry_attempts))
        self.retry_delay = max(0.0, float(retry_delay))
        self.max_retry_delay = max_retry_delay
        self.timeout = (float(connect_timeout), float(read_timeout))
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"ServiceClient({self.base_url!r}, attempts={self.attempts})"

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.headers["User-Agent"] = "sentry-sls-python"
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        path: str,
        data: Optional[bytes] = None,
        payload: Any = None,
        ok: Iterable[int] = (200,),
    ) -> Tuple[int, bytes]:
        """Sends a request; returns ``(status, body)`` for a status in ``ok``.

        Raises :class:`ServiceUnavailable` once every attempt failed to reach the service (or
        got 502/503/504), :class:`ServiceError` for any other status.
        """
        import requests

        ok = tuple(ok)
        url = f"{self.base_url}{path}"
        headers = {}
        if payload is not None:
            data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        last_error = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                delay = min(self.max_retry_delay, self.retry_delay * (2 ** (attempt - 1)))
                time.sleep(delay)
            try:
                response = self._session().request(
                    method, url, data=data, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as error:
                # A broken pooled connection: start the next attempt on a fresh session.
                self._local.session = None
                last_error = f"{type(error).__name__}: {error}"
                logger.warning("sentry-sls %s %s failed (attempt %d): %s", method, path, attempt + 1, last_error)
                continue
            if response.status_code in ok:
                return response.status_code, response.content
            kind, message = _error_of(response)
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code} {kind}: {message}"
                logger.warning("sentry-sls %s %s: %s (attempt %d)", method, path, last_error, attempt + 1)
                continue
            raise ServiceError(
                f"sentry-sls {method} {path}: HTTP {response.status_code} {kind}: {message}",
                status=response.status_code,
                kind=kind,
            )
        raise ServiceUnavailable(
            f"sentry-sls at {self.base_url} unavailable for {method} {path} after "
            f"{self.attempts} attempt(s): {last_error}"
        )

    def get_json(self, path: str) -> Any:
        _, body = self.request("GET", path)
        return json.loads(body)

    def post_json(self, path: str, payload: Any) -> Dict[str, Any]:
        _, body = self.request("POST", path, payload=payload)
        return json.loads(body)


def _error_of(response) -> Tuple[str, str]:
    try:
        error = response.json().get("error") or {}
        return str(error.get("type", "error")), str(error.get("message", ""))[:500]
    except ValueError:
        return "error", response.text[:200]
