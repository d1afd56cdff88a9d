#!/bin/sh
# Gives an image stage the Python it needs, from Debian's packages when the base lacks it:
#   python.sh build   Python 3.11+ with venv and headers, and a C compiler (mypyc compiles
#                     the engine core with it)
#   python.sh run     Python 3.11+ with venv only
# On python:3.11-slim (Python in /usr/local, headers included) `build` adds gcc only and
# `run` adds nothing; on a bare Debian image both install Debian's python3 (3.11 on bookworm).
set -eu
stage=$1
packages=""
if ! command -v python3 >/dev/null 2>&1; then
  packages="python3 python3-venv"
  [ "$stage" = build ] && packages="$packages python3-dev"
fi
if [ "$stage" = build ] && ! command -v gcc >/dev/null 2>&1; then
  packages="$packages gcc libc6-dev"
fi
if [ -n "$packages" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ca-certificates $packages >/dev/null
  rm -rf /var/lib/apt/lists/*
fi
python3 -c 'import sys, venv; assert sys.version_info >= (3, 11), sys.version'
