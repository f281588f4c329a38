#!/bin/sh
# Builds and installs Citus (distributed PostgreSQL) into this machine's PostgreSQL server, unless
# the server already has it. Root only: it writes citus.so and the extension's files into the
# server's directories. Not part of `make deps`: run it once on a machine that tests or runs
# pgpulse on Citus (docs/scaling.md); a clone without Citus skips those tests with a message.
#   scripts/deps-citus.sh            CITUS_SRC (default ../shared/vendor/citus-13.0.5.tar.gz)
#   scripts/deps-citus.sh --check    exit 0 when installed, 1 when not; install nothing
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
src="${CITUS_SRC:-$here/../shared/vendor/citus-13.0.5.tar.gz}"
pgc="${PG_CONFIG:-}"
if [ -z "$pgc" ]; then
    # The newest server on the machine, as pgpulse's private clusters pick it (src/pgcluster.c).
    pgc=$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n 1)
    [ -n "$pgc" ] || pgc=$(command -v pg_config || true)
fi
[ -n "$pgc" ] && [ -x "$pgc" ] || { echo "deps-citus: no pg_config: install PostgreSQL first (make deps)" >&2; exit 1; }
pkglib=$("$pgc" --pkglibdir)
major=$("$pgc" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')

if [ -f "$pkglib/citus.so" ]; then
    [ "${1:-}" = --check ] || echo "deps-citus: Citus is installed ($pkglib/citus.so)" >&2
    exit 0
fi
[ "${1:-}" = --check ] && exit 1

if [ "$(id -u)" != 0 ]; then
    echo "deps-citus: must run as root: it installs Citus into $pkglib (sudo make deps-citus)" >&2
    exit 1
fi
if [ ! -f "$src" ]; then
    echo "deps-citus: no Citus source at $src: set CITUS_SRC to a citus-*.tar.gz" \
         "(https://github.com/citusdata/citus/releases), or install Citus's packages" >&2
    exit 1
fi

# Build dependencies (the vendored README: libpq-be.h includes gssapi.h; PGXS uses clang for
# bitcode where the server was built with LLVM JIT).
pkgs="gcc make clang postgresql-server-dev-$major liblz4-dev libzstd-dev libkrb5-dev"
missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in ii*) ;; *) missing="$missing $p" ;; esac
done
if [ -n "$missing" ]; then
    echo "deps-citus: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing ||
        { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "deps-citus: building $(basename "$src") for PostgreSQL $major (about 5 minutes on 2 cores)" >&2
tar -xzf "$src" -C "$work"
dir=$(ls -d "$work"/*/ | head -n 1)
(cd "$dir" && PG_CONFIG="$pgc" ./configure -q --without-libcurl >/dev/null &&
    make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null)
[ -f "$pkglib/citus.so" ] || { echo "deps-citus: the build ended without $pkglib/citus.so" >&2; exit 1; }
echo "deps-citus: installed Citus into $pkglib" >&2
