#!/usr/bin/env bash
# Installs the system packages Tympan's tests and tools use (Debian). Idempotent and quick when
# everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v sox >/dev/null 2>&1 || need+=(sox)
# sox's MP3/FLAC/OGG handlers (the decode tests need them even where sox itself is present).
dpkg -s libsox-fmt-all >/dev/null 2>&1 || need+=(libsox-fmt-all)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# The speech crate links libespeak-ng and PocketSphinx (found with pkg-config by its build.rs)
# and loads the US English acoustic model and dictionary at run time.
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
for p in libespeak-ng-dev libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v baresip >/dev/null 2>&1 || need+=(baresip)
# sipp 3.6.1 (Debian: sip-tester): the load and digest-auth scenarios in scripts/sipp/.
dpkg -s sip-tester >/dev/null 2>&1 || need+=(sip-tester)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# PostgreSQL server binaries (initdb, postgres, pg_isready): the store tests start a throwaway
# server from them (crates/store/tests/common/pg.rs, scripts/pg-test-server.sh).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 1; }
