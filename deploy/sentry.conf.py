# ---------------------------------------------------------------------------------------------
# sentry-sls (docs/deploy.md, step 5). Append this block to sentry/sentry.conf.py, the file the
# containers read. (The guide says sentry.conf.example.py, which install.sh copies only when
# sentry.conf.py is missing; append it there too if you want new installs to get it.)
#
# web and web-rum share this file. It changes nothing unless ENABLE_SLS_NODESTORE or
# USE_SLS_GROUP_STORAGE is set in the container's environment, and only web-rum's has them.
# web-rum needs no AccessKey: the plugins read through sentry-sls (SNUBA=http://snuba-api-rum:1218).
# ---------------------------------------------------------------------------------------------
import importlib.util as _sls_importlib_util
import os as _sls_os


def _sls_flag(name):
    return _sls_os.environ.get(name, "").strip().lower() in ("true", "1", "yes")


def _sls_installed(module):
    """Whether a top-level module can be imported, found without importing it."""
    try:
        return _sls_importlib_util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _sls_search_shim_installed():
    """Whether deploy/sentry/Dockerfile put the guide's sentry.search.sls.backend in place."""
    spec = _sls_importlib_util.find_spec("sentry")
    if spec is None or not spec.submodule_search_locations:
        return False
    sentry_dir = list(spec.submodule_search_locations)[0]
    return _sls_os.path.isfile(_sls_os.path.join(sentry_dir, "search", "sls", "backend.py"))


try:
    _sls_ttl_days = int(_sls_os.environ.get("SLS_TTL", "") or 30)
except ValueError:
    _sls_ttl_days = 30

# ---- nodestore: event bodies --------------------------------------------------------------
if _sls_flag("ENABLE_SLS_NODESTORE") and _sls_installed("sentry_nodestore_sls"):
    SENTRY_NODESTORE = "sentry_nodestore_sls.SLSNodeStorage"
    # The guide's option names. The AccessKey options stay empty on web-rum: sentry-sls holds
    # the keys, the plugin reaches it through SNUBA.
    SENTRY_NODESTORE_OPTIONS = {
        "endpoint": _sls_os.environ.get("SLS_ENDPOINT", ""),
        "access_key_id": _sls_os.environ.get("SLS_ACCESS_KEY_ID", ""),
        "access_key_secret": _sls_os.environ.get("SLS_ACCESS_KEY_SECRET", ""),
        "project": _sls_os.environ.get("SLS_PROJECT", "sentry-sls"),
        "logstore": _sls_os.environ.get("SLS_LOGSTORE", "logstore-rum"),
        "compression": True,
        "retry_attempts": 3,
        "retry_delay": 0.5,
        "default_ttl_days": _sls_ttl_days or None,
    }
    print("==> sentry-sls: NodeStore sentry_nodestore_sls.SLSNodeStorage via " + _sls_os.environ.get("SNUBA", "?"))
else:
    if _sls_flag("ENABLE_SLS_NODESTORE"):
        print("==> sentry-sls: ENABLE_SLS_NODESTORE is set but sentry_nodestore_sls is not installed")
    # Self-hosted's default names the S3 plugin, which only self-hosted's own image installs.
    # An image without it (a web-rum built FROM getsentry/sentry) would fail to start: fall back
    # to the database nodestore, and say so.
    _sls_current_nodestore = globals().get("SENTRY_NODESTORE", "")
    if _sls_current_nodestore.startswith("sentry_nodestore_s3.") and not _sls_installed("sentry_nodestore_s3"):
        SENTRY_NODESTORE = "sentry.nodestore.django.DjangoNodeStorage"
        SENTRY_NODESTORE_OPTIONS = {}
        print(
            "==> sentry-sls: sentry_nodestore_s3 is not installed in this image; NodeStore falls "
            "back to the database (build the image FROM sentry-self-hosted-local to keep S3)"
        )
    del _sls_current_nodestore

# ---- search backend: issue groups ---------------------------------------------------------
if _sls_flag("USE_SLS_GROUP_STORAGE"):
    if _sls_search_shim_installed():
        SENTRY_SEARCH = "sentry.search.sls.backend.SLSGroupSearchBackend"
    elif _sls_installed("sentry_search_sls"):
        SENTRY_SEARCH = "sentry_search_sls.SLSGroupSearchBackend"
    else:
        print("==> sentry-sls: USE_SLS_GROUP_STORAGE is set but the sentry-sls package is not installed")
    print("==> sentry-sls: Search backend " + str(globals().get("SENTRY_SEARCH")))

del _sls_flag, _sls_installed, _sls_search_shim_installed, _sls_ttl_days
del _sls_importlib_util, _sls_os
# ---- end of sentry-sls --------------------------------------------------------------------
