#!/usr/bin/env bash
# buf lint (STANDARD) and buf breaking (FILE) for protos/, on descriptor images built by
# protoc, since buf cannot reach its registry for the google/api imports here.
# The breaking check compares against BUF_AGAINST (default: the previous commit).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
[ -x node_modules/.bin/buf ] || npm install --no-audit --no-fund --loglevel=error
buf=node_modules/.bin/buf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" scripts/gen_protos.py --image "$work/current.binpb"
"$buf" lint "$work/current.binpb" --path trademesh --config buf.yaml
echo "buf lint: ok"

against=${BUF_AGAINST:-HEAD~1}
if git rev-parse --verify --quiet "$against^{commit}" >/dev/null \
   && git cat-file -e "$against:protos" 2>/dev/null; then
  mkdir -p "$work/against"
  git archive "$against" protos | tar -x -C "$work/against"
  "$PY" scripts/gen_protos.py --image "$work/against.binpb" --root "$work/against/protos"
  "$buf" breaking "$work/current.binpb" --against "$work/against.binpb" \
    --path trademesh --config buf.yaml --against-config buf.yaml
  echo "buf breaking against $against: ok"
else
  echo "buf breaking: skipped ($against has no protos/ to compare against)"
fi
