"""sentry_nodestore_sls.SLSNodeStorage: Sentry's nodestore on sentry-sls (issue 5; placeholder)."""
