"""sentry_search_sls.SLSGroupSearchBackend: Sentry's issue search on sentry-sls (issue 5; placeholder)."""
