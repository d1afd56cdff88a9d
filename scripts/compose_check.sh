#!/usr/bin/env bash
# The docker-compose deployment, end to end (scripts/test.sh runs it; CI must):
#   scripts/compose_check.sh [--public]
# Starts the Docker engine when none answers and we are root (and stops only that one),
# makes the local Debian base image (scripts/debian_image.sh, cached) and the wheels the
# image installs (the host's pip, cached), then deploy/compose_smoke.py builds, brings the
# deployment up, trades through the load balancer, kills the engine and a gateway, checks
# that nothing acknowledged was lost, and takes everything down (down -v) whatever happens.
# By default every image is built from Debian's packages (deploy/compose.ci.yml), since no
# public image registry answers here; --public uses docker-compose.yml's public images.
set -euo pipefail
cd "$(dirname "$0")/.."
# the driver needs trademesh and its dev tools (httpx, websockets, pyyaml): the project's venv
PY=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
ci_args=(--ci)
[ "${1:-}" = "--public" ] && ci_args=()

command -v docker >/dev/null || { echo "docker is missing (scripts/system_deps.sh)"; exit 1; }
command -v docker-compose >/dev/null || {
  echo "docker-compose is missing (scripts/system_deps.sh)"; exit 1; }

started_dockerd=""
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/trademesh-compose.XXXXXX")
project="trademesh-check-$(date +%s)-$$"
cleanup() {
  status=$?
  if [ -f "$run_dir/compose.yml" ]; then  # the driver takes it down; this is for a crash
    docker-compose -p "$project" -f "$run_dir/compose.yml" down -v --remove-orphans \
      --timeout 5 >/dev/null 2>&1 || true
  fi
  rm -rf "$run_dir"
  if [ -n "$started_dockerd" ]; then
    echo "stopping the Docker engine this script started (pid $started_dockerd)"
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== compose: the Docker engine"
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null; then
    echo "no Docker engine answers, and this script can start one only as root"; exit 1
  fi
  dockerd >"$run_dir/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$run_dir/dockerd.log"; exit 1; }
  echo "started dockerd (pid $started_dockerd)"
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
docker-compose version --short | sed 's/^/docker-compose /'

if [ ${#ci_args[@]} -gt 0 ]; then
  . /etc/os-release
  suite=${VERSION_CODENAME:-bookworm}
  export TRADEMESH_DEBIAN_SUITE=$suite
  echo "== compose: the Debian base image ($suite, the host's release)"
  start=$SECONDS
  bash scripts/debian_image.sh "$suite"
  echo "   ($((SECONDS - start)) s)"
  echo "== compose: wheels for the image (the host's Debian Python, its pip settings)"
  start=$SECONDS
  # the image's Python is Debian's python3 of the same release as the host's: the wheels
  # (and the markers that pick them) are the ones it needs
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/trademesh/wheels"
  mkdir -p "$cache"
  /usr/bin/python3 -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'));
print('\n'.join(d['project']['dependencies'] + d['build-system']['requires']))" \
    >"$run_dir/requirements.txt"
  stamp=$( (/usr/bin/python3 -V; cat "$run_dir/requirements.txt" constraints.txt) \
    | sha256sum | cut -c1-16)
  if [ "$(cat deploy/wheels/.stamp 2>/dev/null)" = "$stamp" ]; then
    echo "deploy/wheels is current (the same requirements and Python)"
  else
    pip_download() {
      /usr/bin/python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
        -c constraints.txt -r "$run_dir/requirements.txt" "$@" >"$run_dir/pip.log" 2>&1 \
        || { grep -v 'is ignored: it is neither' "$run_dir/pip.log" | tail -20; exit 1; }
    }
    pip_download -d "$cache"
    find deploy/wheels \( -name '*.whl' -o -name .stamp \) -delete
    # the ones this pip run chose (the cache may hold older pins too)
    pip_download --no-index --find-links "$cache" -d deploy/wheels
    echo "$stamp" > deploy/wheels/.stamp
  fi
  echo "$(find deploy/wheels -name '*.whl' | wc -l) wheels in deploy/wheels"
  echo "   ($((SECONDS - start)) s)"
fi

ports=$("$PY" -c "import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in socks))")
read -r rest ws engine feed <<<"$ports"
"$PY" deploy/compose_smoke.py --project "$project" --run-dir "$run_dir" "${ci_args[@]}" \
  --rest-port "$rest" --ws-port "$ws" --engine-port "$engine" --feed-port "$feed"
