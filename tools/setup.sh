#!/usr/bin/env bash
# Installs every Debian package lra needs to build, test and run. Idempotent: silent when all
# are present. Usage: tools/setup.sh   (as root, or as a user with sudo)
set -euo pipefail

packages=(
  bazel-bootstrap        # Bazel 4.2.3, WORKSPACE mode
  g++ clang libclang-rt-14-dev   # compiler; clang + libFuzzer for the record fuzzer
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libfftw3-dev libeigen3-dev libisal-dev
  libpng-dev zlib1g-dev
  libopenmpi-dev openmpi-bin   # `mpirun -np K lra train`: data-parallel training (core/dist)
  dataset-fashion-mnist  # real image data on every Debian machine
  python3                # tools/: plots only
  python3-numpy          # harness:export_numpy_test reads `lra export` files with numpy.load
)

if [[ ! -r /etc/os-release ]] || ! grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
  echo "tools/setup.sh: this is not Debian or Ubuntu; install the equivalents of these packages" \
       "by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "tools/setup.sh: missing packages: ${missing[*]}" >&2
    echo "  Run as root (or with sudo):  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "tools/setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
