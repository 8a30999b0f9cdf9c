#!/usr/bin/env bash
# Installs what weft needs and runs its main job on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo run --release -p weft-cli -- demo "$@"
