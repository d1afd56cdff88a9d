#!/usr/bin/env bash
# Makes the local Debian base image every image of the CI deployment builds on:
#   scripts/debian_image.sh [SUITE]          (default bookworm) -> trademesh-ci/debian:SUITE
# No public image registry answers from these machines, Debian's package mirrors do: the root
# file system comes from `debootstrap --variant=minbase` (Debian's default mirror) and is
# kept as a tarball under ~/.cache/trademesh/ (keyed by suite and architecture), so a later
# run only `docker import`s it, and a run that finds the image does nothing. The tarball is
# made again after TRADEMESH_BASE_MAX_AGE_DAYS (default 30) days; the images built on it run
# `apt-get update` themselves, so what they install is current whatever the tarball's age.
# Needs root (debootstrap) and a running Docker engine.
set -euo pipefail
suite=${1:-bookworm}
arch=$(dpkg --print-architecture)
image="trademesh-ci/debian:$suite"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/trademesh"
tarball="$cache/debian-$suite-$arch.tar"
max_age=${TRADEMESH_BASE_MAX_AGE_DAYS:-30}

if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime "+$max_age")" ]; then
  echo "base image: $tarball is older than $max_age days, making it again"
  rm -f "$tarball"
  docker image rm "$image" >/dev/null 2>&1 || true
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image: $image present"
  exit 0
fi
if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || {
    echo "debootstrap is missing (scripts/system_deps.sh installs it)"; exit 1; }
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root" "$tarball.part"' EXIT
  echo "base image: debootstrap $suite ($arch, minbase) into $root"
  debootstrap --variant=minbase --arch="$arch" "$suite" "$root" >"$root.log" 2>&1 || {
    tail -20 "$root.log"; rm -f "$root.log"; exit 1; }
  rm -f "$root.log"
  # the suite's updates and security fixes too, from the mirror debootstrap used
  mirror=$(awk '$1 == "deb" {print $2; exit}' "$root/etc/apt/sources.list")
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s-security %s-security main\n' \
    "$mirror" "$suite" "$mirror" "$suite" "$mirror" "$suite" >"$root/etc/apt/sources.list"
  # slim like Debian's own container images: no recommends, no docs or man pages
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$root/etc/apt/apt.conf.d/90trademesh-slim"
  printf 'path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\npath-exclude=/usr/share/locale/*\n' \
    >"$root/etc/dpkg/dpkg.cfg.d/90trademesh-slim"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/*
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  tar --numeric-owner -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$root"
  trap - EXIT
  echo "base image: kept $tarball ($(du -h "$tarball" | cut -f1))"
fi
docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
  --message "debootstrap --variant=minbase $suite" "$tarball" "$image" >/dev/null
echo "base image: imported $image from $tarball"
