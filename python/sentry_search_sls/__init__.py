"""sentry_search_sls.SLSGroupSearchBackend: Sentry's issue search over sentry-sls.

``SLSGroupSearchBackend`` keeps Postgres issue rows in step with the log store (``sync``) and
then runs Sentry's own Snuba search, which sentry-sls's Snuba API answers. The class is loaded
on first use (importing it needs a configured Sentry), so importing this package does not.
"""

__all__ = ["SLSGroupSearchBackend"]


def __getattr__(name):
    if name == "SLSGroupSearchBackend":
        from .backend import SLSGroupSearchBackend

        return SLSGroupSearchBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
