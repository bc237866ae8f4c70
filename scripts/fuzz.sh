#!/usr/bin/env bash
# Fuzzes the SnQL parser and validator for N seconds (default 60) with libFuzzer via
# cargo-fuzz, seeded with the conformance corpus. The stable toolchain builds it with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags). Installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sentry-sls-target}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/snql_parse
cp -n fuzz/seeds/* fuzz/corpus/snql_parse/ 2>/dev/null || true
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run snql_parse --target-dir "$CARGO_TARGET_DIR/fuzz" \
  corpus/snql_parse -- -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 25
