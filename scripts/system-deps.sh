#!/usr/bin/env bash
# System packages the end-to-end tests need, from Debian's repositories (idempotent; quick when present):
#   chromium  - the real browser the Prefect UI tests drive (Playwright never downloads one)
#   postgresql - the database of the scale-out test's Prefect server
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
