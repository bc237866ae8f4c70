#!/usr/bin/env bash
# A stand-in server for `sentry-sls bench ingest --server-binary scripts/bench-null-server.sh`:
# Debian's nginx, one process, answering every request at once (and `/metrics` with a shipped
# count that is always enough). It measures the load generator's own ceiling on this machine:
# the events/s the bench could show if the server did no work at all.
#
# It takes the arguments `bench ingest` gives `sentry-sls serve` and uses --ingest-listen and
# --data-dir (nginx's scratch files; the bench deletes the directory after the run).
set -euo pipefail
listen="" dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ingest-listen) listen="${2:-}"; shift ;;
    --data-dir) dir="${2:-}"; shift ;;
  esac
  shift
done
[ -n "$listen" ] && [ -n "$dir" ] || {
  echo "bench-null-server.sh: give --ingest-listen and --data-dir" >&2
  exit 2
}
command -v nginx >/dev/null || PATH="$PATH:/usr/sbin"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Every temp path in the scratch directory: Debian's nginx would otherwise create its compiled-in
# ones under /var/lib/nginx (failing as non-root).
cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log "$dir/error.log";
pid "$dir/nginx.pid";
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path "$dir/body";
  proxy_temp_path "$dir/proxy";
  fastcgi_temp_path "$dir/fastcgi";
  uwsgi_temp_path "$dir/uwsgi";
  scgi_temp_path "$dir/scgi";
  client_max_body_size 20m;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  server {
    listen "$listen";
    location = /metrics { return 200 "ingest_spool_shipped_logs_total 1000000000000\n"; }
    location / { return 200 '{"id":"00000000000000000000000000000000"}'; }
  }
}
CONF
# exec: the bench reads this process's CPU time and stops it with SIGTERM.
exec nginx -e "$dir/error.log" -c "$dir/nginx.conf" -p "$dir"
