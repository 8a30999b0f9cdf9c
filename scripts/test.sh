#!/usr/bin/env bash
# Runs the whole weft test suite, installing what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo test --workspace --no-fail-fast "$@"
