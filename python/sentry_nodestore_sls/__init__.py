"""sentry_nodestore_sls.SLSNodeStorage: Sentry's nodestore on sentry-sls.

Event bodies live in the log store (SLS or sentry-sls's embedded store); this backend reads
and writes them through the sentry-sls service's nodestore API (``/v1/nodes/``), which it finds
at the Snuba URL (``SNUBA``). See ``backend.py``.
"""

from ._http import ServiceError, ServiceUnavailable
from .backend import SLSNodeStorage

__all__ = ["SLSNodeStorage", "ServiceError", "ServiceUnavailable"]
