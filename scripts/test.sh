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
# The scheduler's loom models, built with `--cfg loom` in a target
# directory of their own (the flag changes every crate's build).
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p weft-sched --test loom --release 2>&1 | tee -a "$log"
loom_status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && status=$loom_status
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
