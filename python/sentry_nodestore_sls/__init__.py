"""sentry_nodestore_sls.SLSNodeStorage: Sentry's nodestore on sentry-sls.

Event bodies live in the log store (SLS or sentry-sls's embedded store); this backend reads
and writes them through the sentry-sls service's nodestore API (``/v1/nodes/``), which it finds
at the Snuba URL (``SNUBA``). See ``backend.py``.

The backend class is loaded on first use: importing it imports Sentry's ``NodeStorage``, which
needs a configured Sentry, and this package is also imported before Sentry is configured (by
``python -m sentry_search_sls.sync``, for the HTTP client).
"""

from ._http import ServiceError, ServiceUnavailable

__all__ = ["SLSNodeStorage", "ServiceError", "ServiceUnavailable"]


def __getattr__(name):
    if name == "SLSNodeStorage":
        from .backend import SLSNodeStorage

        return SLSNodeStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
