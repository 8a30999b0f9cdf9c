#!/usr/bin/env bash
# Installs the system packages weft's tests and benchmarks use:
#   clang, lld, wasi-libc, libclang-rt-dev-wasm32  compile C programs to wasm32-wasi
#   libc++-dev-wasm32                             ...and C++ programs (weft compile)
#   gcc                                           native builds to compare against
#   binaryen                                      Binaryen's asyncify, a benchmark baseline
# and the other compilers `weft compile` runs, when they are missing:
#   ziglang (PyPI)                                Zig, run as `python3 -m ziglang`
#   assemblyscript (npm)                          asc, the AssemblyScript compiler
# (with python3-pip and npm from Debian if pip or npm is missing).
set -euo pipefail
packages=(clang lld wasi-libc libclang-rt-dev-wasm32 libc++-dev-wasm32 gcc binaryen)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# The versions the examples and the SDK are written for.
zig_version=0.17.1
asc_version=0.28.20
need_zig=
[[ $(python3 -m ziglang version 2>/dev/null) == "$zig_version" ]] || need_zig=1
need_asc=
[[ $(asc --version 2>/dev/null) == "Version $asc_version" ]] || need_asc=1
if [[ $need_zig ]] && ! python3 -m pip --version >/dev/null 2>&1; then missing+=(python3-pip); fi
if [[ $need_asc ]] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# pip and npm need root only for a Python or Node installed system-wide.
writable() { [[ -w $1 ]] && echo "" || echo "$sudo"; }
if [[ $need_zig ]]; then
  echo "installing: ziglang $zig_version (pip)" >&2
  flags=(--quiet --disable-pip-version-check --no-input)
  help=$(python3 -m pip install --help)
  [[ $help == *--root-user-action* ]] && flags+=(--root-user-action=ignore)
  # Debian's own python3 refuses packages beside its own unless told.
  stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
  [[ -e $stdlib/EXTERNALLY-MANAGED ]] && flags+=(--break-system-packages)
  site=$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  $(writable "$site") python3 -m pip install "${flags[@]}" "ziglang==$zig_version"
fi
if [[ $need_asc ]]; then
  echo "installing: assemblyscript $asc_version (npm)" >&2
  $(writable "$(npm prefix -g)") npm install -g --no-audit --no-fund --loglevel=error "assemblyscript@$asc_version" >/dev/null
fi
