#!/usr/bin/env bash
# Installs the Debian packages dino needs (OpenBLAS, LLVM OpenMP, libjpeg-turbo, libpng, Open MPI,
# Fashion-MNIST). Skips apt when everything is already there; needs root otherwise.
set -euo pipefail
packages=(libopenblas-dev libomp-dev libjpeg62-turbo-dev libpng-dev libopenmpi-dev openmpi-bin
  dataset-fashion-mnist python3 time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
