#!/usr/bin/env bash
# Installs and starts what Roomhub's tests need, idempotently, and fails
# loudly when something cannot be had. Safe to run again and again.
#   - Chromium, for the browser tests (chromedp drives it).
set -euo pipefail

say() { printf 'test-deps: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install the Debian packages by hand: $*"
  SUDO="sudo"
fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
fi
command -v chromium >/dev/null 2>&1 || die "chromium is not on PATH after installing it"
say "chromium: $(chromium --version 2>/dev/null | head -1)"
