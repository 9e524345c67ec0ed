#!/usr/bin/env bash
# Set up what modelgov needs on a Debian/Ubuntu machine: system packages, .venv, the
# project and its dependencies. Idempotent: it installs only what is missing.
#   scripts/bootstrap.sh demo   -> runtime packages
#   scripts/bootstrap.sh test   -> also Chromium, poppler and the dev extras
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-demo}"
PYTHON="${PYTHON:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root to run: $*" >&2; return 1; fi
}

DEB=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core python3-venv)
if [ "$MODE" = test ]; then
  DEB+=(chromium poppler-utils)
  # The suite runs against real PostgreSQL and Redis; install them when absent.
  command -v pg_ctlcluster >/dev/null || DEB+=(postgresql)
  command -v redis-server >/dev/null || DEB+=(redis-server)
fi
if command -v dpkg-query >/dev/null; then
  missing=()
  for pkg in "${DEB[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "not a Debian system: install Pango, DejaVu fonts and (for tests) Chromium yourself" >&2
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
EXTRAS=""
[ "$MODE" = test ] && EXTRAS="[dev]"
STAMP=".venv/.installed-$MODE-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  log "installing modelgov$EXTRAS into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".$EXTRAS"
  touch "$STAMP"
fi
