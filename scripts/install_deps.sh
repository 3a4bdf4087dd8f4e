#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages (idempotent). Needs root
# (or sudo). Python packages are not installed here: scripts/test.sh and the drivers make
# their own throwaway virtual environments.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libxtensor-dev libxtensor-blas-dev libxsimd-dev libopenblas-dev liblapack-dev liblapacke-dev
  doctest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
  libsentencepiece-dev  # optional for the examples: SentencePiece tokenizer.model files
  clang libclang-rt-14-dev
  python3-venv
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
