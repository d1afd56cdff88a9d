#!/usr/bin/env bash
# Installs everything the tests need into .venv (and node_modules for buf), then runs the
# whole check: generated code fresh, buf lint/breaking, ruff, mypy, compose file, pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow" tests/unit
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PATH="$PWD/.venv/bin:$PATH"
python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
python -m pip install --quiet -c constraints.txt -e '.[dev,embedded]' 2>&1 \
  | grep -v '^WARNING: Location' || true
python -c "import trademesh_cli, trademesh.v1.engine_pb2" # the install worked
[ -x node_modules/.bin/buf ] || npm install --no-audit --no-fund --loglevel=error
bash scripts/system_deps.sh

echo "== generated code"
python scripts/gen_protos.py --check 2>/dev/null
echo "== buf"
PYTHON=python bash scripts/buf.sh
echo "== ruff"
ruff check .
echo "== mypy"
mypy mesh_runtime trademesh_cli engine_svc gateway persistence_svc feed_svc bench \
  deploy/compose_smoke.py
echo "== docker-compose.yml"
if command -v docker-compose >/dev/null; then
  docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"
  docker-compose -f docker-compose.yml -f deploy/compose.ci.yml config -q \
    && echo "with deploy/compose.ci.yml: valid"
elif [ "${CI:-}" = "true" ]; then
  echo "docker-compose is missing (scripts/system_deps.sh installs it)"; exit 1
else
  echo "skipped: docker-compose not installed (apt-get install docker-compose)"
fi
echo "== docker-compose deployment"
# builds the images and runs the deployment end to end (scripts/compose_check.sh): needs a
# Docker engine we may use (root, or a member of the docker group with the engine running)
if [ "${TRADEMESH_COMPOSE_CHECK:-}" = "skip" ] && [ "${CI:-}" != "true" ]; then
  echo "skipped: TRADEMESH_COMPOSE_CHECK=skip"
elif [ "$(id -u)" -eq 0 ] || { id -nG | grep -qw docker && docker info >/dev/null 2>&1; }; then
  bash scripts/compose_check.sh
elif [ "${CI:-}" = "true" ]; then
  echo "CI must run the deployment: run as root or as a member of the docker group"; exit 1
else
  echo "skipped: Docker cannot run here (not root, not in the docker group with a running engine)"
fi
echo "== web terminal (web/): build when stale, unit tests"
if command -v npm >/dev/null; then
  [ -d web/node_modules ] || npm --prefix web ci --no-audit --no-fund --loglevel=error
  python -m trademesh_cli.web_build
  npm --prefix web test --silent
elif [ "${CI:-}" = "true" ]; then
  echo "Node.js/npm are missing (the web terminal needs them to build)"; exit 1
else
  echo "skipped: no Node.js/npm (the terminal's browser tests skip too)"
fi
echo "== pytest"
python -m pytest "$@"
