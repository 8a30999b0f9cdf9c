#!/usr/bin/env bash
# Installs the system packages weft's tests and benchmarks use:
#   clang, lld, wasi-libc, libclang-rt-dev-wasm32  compile C programs to wasm32-wasi
#   gcc                                           native builds to compare against
#   binaryen                                      Binaryen's asyncify, a benchmark baseline
set -euo pipefail
packages=(clang lld wasi-libc libclang-rt-dev-wasm32 gcc binaryen)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
