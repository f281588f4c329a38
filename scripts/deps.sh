#!/bin/sh
# Installs the Debian packages pgpulse needs, only those missing, without questions.
#   scripts/deps.sh          build, run and test
#   scripts/deps.sh --bench  also the peers the benchmarks compare against (Python stack)
#   scripts/deps.sh --check  exit 1 if something is missing, install nothing
set -eu

PKGS="gcc make pkg-config libc6-dev libpq-dev postgresql postgresql-contrib libcmocka-dev libjansson-dev libmicrohttpd-dev"
# cairo: `pgpulse report` draws its figures and PDF (src/plot.c); DejaVu is the font it names.
PKGS="$PKGS libcairo2-dev libfontconfig-dev fonts-dejavu-core"
# openssl: the certificates of `pgpulse db start --tls`.
PKGS="$PKGS openssl clang libclang-rt-14-dev valgrind"
# chromium: the dashboard's browser tests (tests/e2e); nodejs/npm only where no node is installed.
PKGS="$PKGS chromium"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
BENCH_PKGS="python3 python3-psycopg2 python3-pandas python3-sqlalchemy python3-sklearn postgresql-client hyperfine"

check=0
case "${1:-}" in
    --bench) PKGS="$PKGS $BENCH_PKGS" ;;
    --check) check=1 ;;
    "") ;;
    *) echo "usage: $0 [--bench|--check]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in ii*) ;; *) missing="$missing $p" ;; esac
done
# web/node_modules (uPlot, embedded at build time; playwright-core for tests/e2e): npm ci when it
# is missing or older than the lock file.
webdeps() {
    here=$(cd "$(dirname "$0")/.." && pwd)
    # A symlinked node_modules (a git worktree sharing another checkout's) is that checkout's to
    # install: npm ci through the link would empty it under whoever else uses it.
    [ -L "$here/web/node_modules" ] && return 0
    if [ ! -d "$here/web/node_modules" ] || [ "$here/web/package-lock.json" -nt "$here/web/node_modules" ]; then
        if [ "$check" = 1 ]; then echo "missing: web/node_modules (npm ci in web/)" >&2; exit 1; fi
        echo "deps: npm ci in web/" >&2
        (cd "$here/web" && npm ci --no-audit --no-fund) && touch "$here/web/node_modules"
    fi
}
if [ -z "$missing" ]; then webdeps; exit 0; fi
if [ "$check" = 1 ]; then echo "missing packages:$missing" >&2; exit 1; fi

echo "deps: installing$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install:$missing" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when the first attempt cannot find a package.
if ! $sudo apt-get install -y -q --no-install-recommends $missing; then
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends $missing
fi
webdeps
