#!/bin/sh
# Runs the suite N times in a row on a clean clone of this repository's HEAD, as CI does
# (.ci/run: make deps, make test), and prints what each run printed last ("N passed, N failed")
# with its wall time. Exits 1 if any run failed. A flaky test shows up here before it blocks a
# submission.
#
#   scripts/test-repeat.sh [-n N] [--shared DIR|--no-shared] [--keep]
#
# -n N          runs (default 5)
# --shared DIR  the shared data the data tests read (default: ../shared next to this checkout,
#               when it is there; CI has it)
# --no-shared   run as a user's clone would, without it (those tests skip and say so)
# --keep        keep the clone and the logs (printed at the end)
set -u
runs=5 shared="" noshared=0 keep=0
root=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=${2:?-n needs a number}; shift 2 ;;
        --shared) shared=${2:?--shared needs a directory}; shift 2 ;;
        --no-shared) noshared=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test-repeat: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$runs" in ''|*[!0-9]*|0) echo "test-repeat: -n takes a positive integer" >&2; exit 2 ;; esac
if [ "$noshared" = 0 ] && [ -z "$shared" ] && [ -d "$root/../shared/data" ]; then
    shared=$(cd "$root/../shared" && pwd)
fi

work=$(mktemp -d /tmp/pgpulse-repeat.XXXXXX)
chmod 755 "$work" # the private cluster runs as the postgres user when we are root
git clone -q "$root" "$work/pgpulse" || { echo "test-repeat: git clone failed" >&2; exit 1; }
head=$(git -C "$work/pgpulse" rev-parse --short HEAD)
echo "clean clone of $head in $work/pgpulse; $runs runs; shared data: ${shared:-absent}"

failed=0
i=1
while [ "$i" -le "$runs" ]; do
    log="$work/run$i.log"
    start=$(date +%s)
    if [ -n "$shared" ]; then
        (cd "$work/pgpulse" && PGPULSE_SHARED="$shared" .ci/run) >"$log" 2>&1
    else
        (cd "$work/pgpulse" && env -u PGPULSE_SHARED .ci/run) >"$log" 2>&1
    fi
    rc=$?
    secs=$(( $(date +%s) - start ))
    summary=$(tail -n 1 "$log")
    printf 'run %d: %s (exit %d, %d s)\n' "$i" "$summary" "$rc" "$secs"
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        grep -n '\[  FAILED  \]\|^!!\|\[  ERROR   \]' "$log" | head -n 20
    fi
    i=$((i + 1))
done

if [ "$keep" = 1 ] || [ "$failed" -gt 0 ]; then
    echo "logs: $work/run*.log"
else
    rm -rf "$work"
fi
echo "$((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
