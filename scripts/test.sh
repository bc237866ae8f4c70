#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, then runs every test:
# formatting, clippy, the Rust tests (unit, corpus, property, HTTP), a short fuzz run of the
# SnQL parser, and the Python integration tests against the real binary.
# Idempotent; safe to re-run. CARGO_TARGET_DIR defaults to ~/.cache/sentry-sls-target so
# builds stay warm across clones.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sentry-sls-target}
export CARGO_TERM_COLOR=never
step() { printf '\n== %s ==\n' "$*"; }

step "Python environment (tests/requirements.txt)"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import snuba_sdk, pytest, requests, aliyun.log, sentry_sdk' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tests/requirements.txt
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "fuzz the SnQL parser (60 s, libFuzzer via cargo-fuzz when available)"
scripts/fuzz.sh 60

step "integration tests (pytest, real sentry-sls binary)"
cargo build -p sentry-sls
SENTRY_SLS_BIN="$CARGO_TARGET_DIR/debug/sentry-sls" .venv/bin/pytest -q tests/integration

step "all tests passed"
