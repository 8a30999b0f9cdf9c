#!/usr/bin/env bash
# Runs the whole weft test suite, installing what it needs first, and ends
# with one line that sums up every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) passed += $i
            if ($(i+1) ~ /^failed/) failed += $i
            if ($(i+1) ~ /^ignored/) ignored += $i
        }
        binaries++
    }
    END {
        printf "\nweft test suite: %d passed, %d failed, %d ignored in %d test binaries\n", passed, failed, ignored, binaries
    }' "$log"
exit "$status"
