"""The guide's search backend path, `sentry.search.sls.backend.SLSGroupSearchBackend`.

Alibaba's closed image ships a module at this path; the sentry-sls image installs this shim
there instead (deploy/sentry/install_search_shim.py), so a `sentry.conf.py` written for the
guide (`SENTRY_SEARCH = "sentry.search.sls.backend.SLSGroupSearchBackend"`) works unchanged.

The class lives in the sentry-sls Python package (python/). It is looked up on first use, not
at import: importing this module needs nothing of Sentry, and Sentry's `import_string` resolves
the attribute only when the search backend is built.
"""

from __future__ import annotations

import importlib
import importlib.util

# Where the sentry-sls package keeps the backend, in order of preference.
CANDIDATE_MODULES = ("sentry_search_sls", "sentry_sls.search")
CLASS_NAME = "SLSGroupSearchBackend"


def target_module() -> str:
    """The first candidate module that is installed (found without importing it)."""
    for name in CANDIDATE_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ImportError:  # its parent package is not installed
            continue
    raise ImportError(
        f"sentry.search.sls.backend: the sentry-sls package is not installed "
        f"(none of {', '.join(CANDIDATE_MODULES)} found)"
    )


def __getattr__(name: str):
    if name == CLASS_NAME:
        return getattr(importlib.import_module(target_module()), CLASS_NAME)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
