#!/usr/bin/env bash
# sentry-sls test harness: a real Sentry 23.7.1 (the last release published to PyPI).
# Built on the reference recipe /work/shared/sentry-harness/setup.sh. Idempotent: re-running
# skips every step that is already done.
#
# Usage:
#   tests/sentry/setup.sh              # venv (with the sentry-sls plugins of python/) + Postgres +
#                                      # Redis + `sentry upgrade` + admin, org, project + web on
#                                      # loopback; prints "PROJECT <org> <slug> <id>" and, last,
#                                      # "TOKEN <hex>"
#   tests/sentry/setup.sh --venv-only  # stop once the venv with sentry==23.7.1 is installed
#                                      # (enough for tests/grouping/generate.py; no services)
#
# Sentry is configured with our plugins: SENTRY_NODESTORE = sentry_nodestore_sls.SLSNodeStorage
# (the guide's options), SENTRY_SEARCH = sentry_search_sls.SLSGroupSearchBackend, and
# SENTRY_SNUBA = $SNUBA_URL (read again at every start, so one config serves any port).
# The web process runs in its own session; stop it by the pid in $HARNESS_DIR/web.pid.
#
# Env: HARNESS_DIR  (default <repo root>/.sentry-harness, git-ignored)
#      PY38         (a CPython 3.8 interpreter; default: newest pyenv 3.8.x)
#      SENTRY_VERSION (default 23.7.1)
#      SNUBA_URL    (default http://127.0.0.1:1218: sentry-sls serve's Snuba listener)
#      SENTRY_PORT  (default 9000)
#      SENTRY_DB    (Postgres database name, default sentry)
set -euo pipefail

VENV_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --venv-only) VENV_ONLY=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS_DIR=${HARNESS_DIR:-$REPO_ROOT/.sentry-harness}
SENTRY_VERSION=${SENTRY_VERSION:-23.7.1}
SNUBA_URL=${SNUBA_URL:-http://127.0.0.1:1218}
SENTRY_PORT=${SENTRY_PORT:-9000}
SENTRY_DB=${SENTRY_DB:-sentry}
PY38=${PY38:-$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.8.*/bin/python 2>/dev/null | sort -V | tail -1)}
mkdir -p "$HARNESS_DIR"; cd "$HARNESS_DIR"

# --- 1. venv with sentry (several minutes on first run) --------------------------------------
# The marker is written only after a complete install, so an interrupted run is retried.
if [ ! -f venv/.sentry-installed ] || [ "$(cat venv/.sentry-installed)" != "$SENTRY_VERSION" ]; then
  [ -n "$PY38" ] && [ -x "$PY38" ] || { echo "no CPython 3.8 found; set PY38" >&2; exit 1; }
  [ -x venv/bin/python ] || "$PY38" -m venv venv
  venv/bin/pip install -q 'pip<24.1'        # sentry 23.7.1 pins celery 4.4.7, whose metadata newer pip rejects
  venv/bin/pip install -q "sentry==$SENTRY_VERSION"
  venv/bin/python -c 'import sentry, sentry_relay' # smoke check
  echo "$SENTRY_VERSION" > venv/.sentry-installed
fi
if [ "$VENV_ONLY" = 1 ]; then
  echo "VENV $HARNESS_DIR/venv"
  exit 0
fi

# The sentry-sls plugins (python/), editable so the harness always runs the working tree.
venv/bin/python - "$REPO_ROOT/python" <<'PY' || venv/bin/pip install -q --no-deps -e "$REPO_ROOT/python"
import importlib.util, os, sys
spec = importlib.util.find_spec("sentry_nodestore_sls")
sys.exit(0 if spec and os.path.realpath(spec.origin).startswith(os.path.realpath(sys.argv[1])) else 1)
PY

# --- 2. Postgres + Redis from Debian -----------------------------------------------------------
command -v pg_ctlcluster >/dev/null && command -v redis-server >/dev/null || {
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server >/dev/null; }
PGVER=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_ctlcluster "$PGVER" main start 2>/dev/null || true
redis-cli ping >/dev/null 2>&1 || redis-server --daemonize yes --port 6379 --save '' >/dev/null

# --- 3. Sentry config ----------------------------------------------------------------------------
export SENTRY_CONF=$HARNESS_DIR/conf
if [ ! -f conf/sentry.conf.py ]; then
  venv/bin/sentry init conf >/dev/null
  sed -i "s/'NAME': 'sentry'/'NAME': '$SENTRY_DB'/; s/'USER': 'postgres'/'USER': 'sentry'/; s/'PASSWORD': ''/'PASSWORD': 'sentry'/" conf/sentry.conf.py
  cat >> conf/sentry.conf.py <<PY
SENTRY_SNUBA = "$SNUBA_URL"
SENTRY_OPTIONS["system.url-prefix"] = "http://127.0.0.1:$SENTRY_PORT"
SENTRY_SINGLE_ORGANIZATION = True
SENTRY_WEB_HOST = "127.0.0.1"
SENTRY_WEB_PORT = $SENTRY_PORT
PY
fi

# The plugins' block, added once to configs made before it existed. Values come from the
# environment at each start: SNUBA (this script exports it) and SENTRY_PORT.
if ! grep -q 'sentry-sls plugins' conf/sentry.conf.py; then
  cat >> conf/sentry.conf.py <<'PY'

# --- sentry-sls plugins (tests/sentry/setup.sh) ---
import os as _sls_os
SENTRY_SNUBA = _sls_os.environ.get("SNUBA", SENTRY_SNUBA)
SENTRY_WEB_PORT = int(_sls_os.environ.get("SENTRY_PORT", SENTRY_WEB_PORT))
SENTRY_OPTIONS["system.url-prefix"] = "http://127.0.0.1:%d" % SENTRY_WEB_PORT
SENTRY_NODESTORE = "sentry_nodestore_sls.SLSNodeStorage"
SENTRY_NODESTORE_OPTIONS = {
    "endpoint": "", "access_key_id": "", "access_key_secret": "", "project": "sentry-sls",
    "logstore": "logstore-rum", "compression": True, "retry_attempts": 3, "retry_delay": 0.5,
    "default_ttl_days": 30,
}
SENTRY_SEARCH = "sentry_search_sls.SLSGroupSearchBackend"
SENTRY_SEARCH_OPTIONS = {"sync_interval": 2}
del _sls_os
PY
fi
export SNUBA=$SNUBA_URL SENTRY_PORT

# --- 4. Database, admin user, API token -----------------------------------------------------------
su postgres -c "psql -tc \"select 1 from pg_roles where rolname='sentry'\"" | grep -q 1 || \
  su postgres -c "psql -qc \"create user sentry with superuser password 'sentry';\""
su postgres -c "psql -tc \"select 1 from pg_database where datname='$SENTRY_DB'\"" | grep -q 1 || {
  su postgres -c "createdb -O sentry $SENTRY_DB"
  venv/bin/sentry upgrade --noinput >upgrade.log 2>&1
  venv/bin/sentry createuser --email admin@example.com --password admin --superuser --no-input >/dev/null
}
# The default organization and project (`sentry upgrade` makes them; made here if missing), and
# the installation marked configured.
cat > mkproject.py <<'PY'
from sentry.models import Organization, Project, Team
org = Organization.objects.order_by("id").first() or Organization.objects.create(name="Sentry", slug="sentry")
team = Team.objects.filter(organization=org).order_by("id").first() or Team.objects.create(
    organization=org, name="Sentry", slug="sentry")
project = Project.objects.filter(organization=org).order_by("id").first()
if project is None:
    project = Project.objects.create(organization=org, name="Internal", slug="internal", platform="python")
    project.add_team(team)
print("PROJECT", org.slug, project.slug, project.id)
# Sentry's first-run wizard (which a superuser's browser is sent to) is done: the required
# options are set and the version is marked configured.
import sentry
from sentry import options
for key in options.filter(flag=options.FLAG_REQUIRED):
    if not options.isset(key.name) and not key.flags & options.FLAG_ALLOW_EMPTY:
        default = key.default() if callable(key.default) else key.default
        options.set(key.name, "admin@example.com" if key.name == "system.admin-email" else default)
if options.get("sentry:version-configured") != sentry.get_version():
    options.set("sentry:version-configured", sentry.get_version())
PY
venv/bin/sentry exec mkproject.py 2>/dev/null | grep '^PROJECT'
cat > mktoken.py <<'PY'
from sentry.models import ApiToken, User
u = User.objects.get(email="admin@example.com")
t = ApiToken.objects.filter(user=u).first() or ApiToken.objects.create(user=u, scope_list=[
    "org:read", "org:write", "project:read", "project:write", "event:read", "event:write",
    "event:admin", "member:read", "team:read"])
print("TOKEN", t.token)
PY

# --- 5. Web process (uwsgi) in its own session; stop it later by the pid in web.pid -------------
if ! curl -sf -m 2 "http://127.0.0.1:$SENTRY_PORT/_health/" >/dev/null; then
  setsid venv/bin/sentry run web >web.log 2>&1 < /dev/null & echo $! > web.pid
  for _ in $(seq 60); do curl -sf -m 2 "http://127.0.0.1:$SENTRY_PORT/_health/" >/dev/null && break; sleep 1; done
fi
venv/bin/sentry exec mktoken.py 2>/dev/null | grep '^TOKEN'
