#!/usr/bin/env bash
# Builds sentry-sls (release) and runs `sentry-sls serve` on the embedded store in ./data.
# Extra arguments go to `serve` (see `sentry-sls serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sentry-sls-target}
cargo build --release -p sentry-sls
exec "$CARGO_TARGET_DIR/release/sentry-sls" serve --data-dir ./data "$@"
