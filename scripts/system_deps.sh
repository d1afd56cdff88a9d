#!/usr/bin/env bash
# The system packages the checks use, from Debian when missing: the Docker engine
# (docker.io), docker-compose, debootstrap and Debian's python3-pip (scripts/compose_check.sh
# builds and runs the deployment: the base image's root file system, the image's wheels),
# Chromium (the browser tests) and Prometheus (scrapes a running mesh in
# tests/e2e/test_metrics.py).
# Needs root or password-less sudo; otherwise says what to install and returns 0, and the
# checks that need them are skipped outside CI (in CI they fail).
set -euo pipefail
missing=()
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ -x /usr/sbin/dockerd ] || command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v chromium >/dev/null || missing+=(chromium)
command -v prometheus >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "not installed: ${missing[*]} (apt-get install ${missing[*]})"
  exit 0
fi
echo "installing ${missing[*]} from Debian"
log=$(mktemp)
if ! ("${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      "${as_root[@]}" apt-get install -y -qq "${missing[@]}") >"$log" 2>&1; then
  tail -20 "$log"
  exit 1
fi
rm -f "$log"
