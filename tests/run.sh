#!/bin/sh
# Runs the unit tests, then starts a throwaway PostgreSQL (initdb into a temporary directory,
# a free port, loopback only, wal_level=logical — pgpulse's own `db start`), and where Citus is
# installed a throwaway Citus cluster too (`db start --citus 2`: PGPULSE_TEST_CITUS_HOME), runs
# the integration tests against them, and removes them. The last line is "N passed, N failed".
#
#   tests/run.sh [--unit] BUILD_DIR
set -u
unit_only=0
[ "${1:-}" = "--unit" ] && { unit_only=1; shift; }
B=${1:?usage: tests/run.sh [--unit] BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export PGPULSE_BIN="${PGPULSE_BIN:-$root/pgpulse}"   # the binary under test
if [ -z "${PGPULSE_SHARED:-}" ] && [ -d "$root/../shared/data" ]; then
    PGPULSE_SHARED=$(cd "$root/../shared" && pwd)
fi
export PGPULSE_SHARED="${PGPULSE_SHARED:-}"
[ -n "$PGPULSE_SHARED" ] || echo "note: ../shared is absent: tests that need its data are skipped"

passed=0 failed=0 skipped=0
log=$(mktemp)

# Runs one cmocka binary and adds its counts. A binary that dies without a summary counts as
# one failure.
run_one() {
    name=$(basename "$1")
    printf '%s\n' "== $name"
    t0=$(date +%s)
    "$1" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "-- $name: $(($(date +%s) - t0)) s"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    if [ -z "$p" ] && [ -z "$f" ]; then
        echo "!! $name exited with status $rc without a summary"
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then failed=$((failed + 1)); fi
}

for t in "$B"/tests/unit/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] && run_one "$t"
done

if [ "$unit_only" = 0 ]; then
    tmp=$(mktemp -d /tmp/pgpulse-test-cluster.XXXXXX)
    chmod 755 "$tmp"   # the server may run as the postgres user (when we are root)
    export PGPULSE_TEST_HOME="$tmp"
    citus=""
    cleanup() {
        PGPULSE_HOME="$tmp" "$PGPULSE_BIN" db stop >/dev/null 2>&1
        rm -rf "$tmp"
        if [ -n "$citus" ]; then
            PGPULSE_HOME="$citus" "$PGPULSE_BIN" db stop >/dev/null 2>&1
            rm -rf "$citus"
        fi
    }
    trap cleanup EXIT INT TERM
    # Where Citus is installed (make deps-citus), a second cluster: a coordinator and 2 workers
    # (`db start --citus 2`) for the tests of the distributed pipeline (harness_citus_db), with
    # the same room for slots on every node. Elsewhere those tests skip with a message.
    if scripts/deps-citus.sh --check 2>/dev/null; then
        citus=$(mktemp -d /tmp/pgpulse-test-citus.XXXXXX)
        chmod 755 "$citus"
        if PGPULSE_HOME="$citus" "$PGPULSE_BIN" db start --citus 2 >"$log" 2>&1 &&
            (for k in 0 1 2; do
                psql "$(PGPULSE_HOME="$citus" "$PGPULSE_BIN" db url --node $k)" -qc "ALTER SYSTEM SET max_replication_slots = 128" \
                    -c "ALTER SYSTEM SET max_wal_senders = 128" || exit 1
            done) >>"$log" 2>&1 &&
            PGPULSE_HOME="$citus" "$PGPULSE_BIN" db stop >>"$log" 2>&1 &&
            PGPULSE_HOME="$citus" "$PGPULSE_BIN" db start >>"$log" 2>&1; then
            export PGPULSE_TEST_CITUS_HOME="$citus"
            echo "Citus tests run: a coordinator and 2 workers in $citus"
        else
            cat "$log"
            echo "!! could not start the Citus test cluster: Citus tests fail"
            failed=$((failed + 1))
            # They must not pass as skipped where Citus is installed.
            export PGPULSE_TEST_CITUS_HOME="$citus"
        fi
    else
        echo "Citus tests skip: Citus is not installed (make deps-citus)"
    fi
    # Every test consumer leaves its slot in its own database, and the suite makes more than the
    # 32 a private cluster allows (pgpulse db start): the suite's cluster gets room for 128.
    if PGPULSE_HOME="$tmp" "$PGPULSE_BIN" db start >"$log" 2>&1 &&
        psql "$(PGPULSE_HOME="$tmp" "$PGPULSE_BIN" db url)" -qc "ALTER SYSTEM SET max_replication_slots = 128" \
            -c "ALTER SYSTEM SET max_wal_senders = 128" >>"$log" 2>&1 &&
        PGPULSE_HOME="$tmp" "$PGPULSE_BIN" db stop >>"$log" 2>&1 &&
        PGPULSE_HOME="$tmp" "$PGPULSE_BIN" db start >>"$log" 2>&1; then
        for t in "$B"/tests/integration/test_*; do
            case "$t" in *.o|*.d) continue ;; esac
            [ -x "$t" ] && run_one "$t"
        done
        # The dashboard's browser test (it skips itself without chromium or web/node_modules).
        if command -v node >/dev/null 2>&1; then
            run_one "$root/tests/e2e/run.mjs"
            # The same dashboard over Citus (it skips itself without a Citus cluster).
            [ -n "${PGPULSE_TEST_CITUS_HOME:-}" ] && E2E_CITUS=1 run_one "$root/tests/e2e/run.mjs"
        else
            echo "== e2e skipped: no node"; skipped=$((skipped + 1))
        fi
    else
        cat "$log"
        [ -f "$tmp/postgresql.log" ] && tail -n 20 "$tmp/postgresql.log"
        echo "!! could not start the test cluster: integration tests not run"
        failed=$((failed + 1))
    fi
fi
rm -f "$log"
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
