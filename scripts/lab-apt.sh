#!/usr/bin/env bash
# A local apt repository for the lab hosts, which have no route to any package registry: the Debian packages
# the monitoring stage installs (prometheus, prometheus-node-exporter) and whatever they need that the hosts'
# root file system lacks, fetched by this machine's apt (`apt-get download` checks each .deb against the
# signed Debian archive indexes), with a Packages index (dpkg-scanpackages). The roles install from it with
# apt as they would from a Debian mirror: scripts/lab.sh copies it into each host as
# /srv/stockpipe-lab-apt and adds `deb [trusted=yes] file:/srv/stockpipe-lab-apt ./` to its apt sources.
#
#   scripts/lab-apt.sh            build (or reuse) .cache/lab-apt; prints its path
#
# Rebuilt when the package list or the hosts' root file system (scripts/lab-hosts.sh rootfs) changes.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOTFS="${CACHE_DIR:-$REPO/.cache/ansible-hosts}/rootfs"
OUT="$REPO/.cache/lab-apt"
PACKAGES=(prometheus prometheus-node-exporter)
die() { echo "lab-apt: error: $1" >&2; exit 1; }

[ -f "$ROOTFS/var/lib/dpkg/status" ] || die "no root file system at $ROOTFS; fix: scripts/lab-hosts.sh rootfs"
stamp="${PACKAGES[*]}|$(sha256sum "$ROOTFS/var/lib/dpkg/status" | cut -d' ' -f1)|v1"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ] && [ -s "$OUT/Packages" ]; then
  echo "$OUT"
  exit 0
fi
command -v dpkg-scanpackages >/dev/null || die "dpkg-scanpackages is missing; fix: apt-get install dpkg-dev"

# What apt would install on a host, given the packages its root file system already has.
plan() {
  apt-get -s -o Dir::State::status="$ROOTFS/var/lib/dpkg/status" install --no-install-recommends "${PACKAGES[@]}" \
    2>&1 | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p'
}
mapfile -t wanted < <(plan)
if [ ${#wanted[@]} -eq 0 ] || ! (rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp" && cd "$OUT.tmp" \
    && apt-get download -q "${wanted[@]}" >/dev/null 2>"$OUT.tmp/download.log"); then
  # Stale package lists name versions the mirror no longer has: refresh them once.
  apt-get update -qq >&2 || die "apt-get update failed"
  mapfile -t wanted < <(plan)
  [ ${#wanted[@]} -gt 0 ] || die "apt knows no candidate for ${PACKAGES[*]}"
  rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
  (cd "$OUT.tmp" && apt-get download -q "${wanted[@]}" >/dev/null) || die "apt-get download ${wanted[*]} failed"
fi
rm -f "$OUT.tmp/download.log"
(cd "$OUT.tmp" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null) || die "dpkg-scanpackages failed"
chmod -R a+rX "$OUT.tmp"
echo "$stamp" >"$OUT.tmp/.stamp"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "lab-apt: ${#wanted[@]} packages in $OUT: ${wanted[*]}" >&2
echo "$OUT"
