#!/bin/bash
# report-fixed.sh: builds issue 12's fixed data set in a private cluster and renders the report
# from it (docs/report.md, "The fixed data set").
#
#   scripts/report-fixed.sh [--home DIR] [--out DIR] [--bin PATH] [--keep]
#
#   --home DIR  the private cluster's home (PGPULSE_HOME); default a new temporary directory,
#               removed at the end unless --keep. An existing home with the data set already
#               built (a file DIR/fixed-built) is reused: only the report is rendered again.
#   --out DIR   where the report goes (default ./report-fixed)
#   --bin PATH  the pgpulse binary (default ./pgpulse)
#   --keep      keep the cluster (stopped) when the home was made here
#
# Steps, each timed:
#   1. start the cluster (max_slot_wal_keep_size 32GB: the consumer may fall minutes behind the
#      simulator) and apply the schema;
#   2. start `pgpulse consume --stages live,detect,learn,warehouse` BEFORE any reading is written
#      (a consumer sees the rows committed after its slot exists), and wait for its slot;
#   3. `pgpulse gen --robots 20 --duration 604800 --seed 1 --faults default --speedup max --db`;
#   4. the workshop's real robot export (../shared/data/workshop/RMBR4-2_export_test.csv, when
#      present) as robot 101 of its own (`pgpulse ingest --robot 101 --create-robot`);
#   5. wait until the consumer's checkpoint holds every stored reading, then stop it (SIGINT);
#   6. `pgpulse report --out DIR` over the whole data set.
# Only the standard tools, psql and jq are used.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
home="" out="report-fixed" bin="$here/pgpulse" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --home) home="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "report-fixed: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "report-fixed: no pgpulse binary at $bin (make first)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
made_home=0
if [ -z "$home" ]; then
    home=$(mktemp -d "${TMPDIR:-/tmp}/report-fixed.XXXXXX")
    made_home=1
fi
mkdir -p "$home" "$out"
chmod 755 "$home"
export PGPULSE_HOME="$home"
unset PGPULSE_DB PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE
export_csv="$here/../shared/data/workshop/RMBR4-2_export_test.csv"
[ -f "$export_csv" ] || export_csv="/work/shared/data/workshop/RMBR4-2_export_test.csv"

consumer_pid=""
cleanup() {
    if [ -n "$consumer_pid" ] && kill -0 "$consumer_pid" 2>/dev/null; then
        kill -INT "$consumer_pid" 2>/dev/null || true
        wait "$consumer_pid" 2>/dev/null || true
    fi
    if [ "$made_home" = 1 ]; then
        "$bin" db stop >/dev/null 2>&1 || true
        [ "$keep" = 1 ] || rm -rf "$home"
    fi
}
trap cleanup EXIT

t_all=$(date +%s.%N)
step_t=0
step() { step_t=$(date +%s.%N); printf '%-58s' "$1" >&2; }
done_step() { printf '%8.1f s%s\n' "$(echo "$(date +%s.%N) - $step_t" | bc)" "${1:+  ($1)}" >&2; }

step "1. cluster and schema"
"$bin" db start --slot-wal-limit 32GB >"$home/db.log" 2>&1
url=$("$bin" db url)
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }
"$bin" init --db "$url" >>"$home/db.log" 2>&1
done_step

if [ -f "$home/fixed-built" ]; then
    echo "   (the data set is already built in $home)" >&2
else
    step "2. consumer live,detect,learn,warehouse started"
    "$bin" consume --db "$url" --stages live,detect,learn,warehouse --name fixed \
        --status-every 60 >"$home/consume.log" 2>&1 &
    consumer_pid=$!
    for _ in $(seq 600); do
        [ "$(sql "SELECT count(*) FROM stream_checkpoint WHERE consumer = 'fixed'")" = 1 ] && break
        kill -0 "$consumer_pid" 2>/dev/null || { cat "$home/consume.log" >&2; exit 1; }
        sleep 0.1
    done
    done_step

    step "3. gen: 20 robots, 7 days, seed 1, default faults"
    "$bin" gen --db "$url" --robots 20 --duration 604800 --seed 1 --faults default \
        --speedup max >"$home/gen.log" 2>&1
    done_step "$(sql "SELECT to_char(count(*), 'FM999,999,999') FROM reading") readings"

    if [ -f "$export_csv" ]; then
        step "4. ingest the workshop export as robot 101"
        "$bin" ingest --db "$url" --robot 101 --create-robot --source workshop-RMBR4-2 \
            "$export_csv" >"$home/ingest.log" 2>&1
        done_step "$(sql "SELECT count(*) FROM reading WHERE robot_id = 101") readings"
    else
        echo "4. (no workshop export under ../shared: the simulated fleet only)" >&2
    fi

    step "5. wait until the consumer caught up"
    stored=$(sql "SELECT sum(rows_inserted) FROM ingest_batch")
    while :; do
        got=$(sql "SELECT coalesce(max(rows), 0) FROM stream_checkpoint WHERE consumer = 'fixed'")
        [ "$got" -ge "$stored" ] && break
        kill -0 "$consumer_pid" 2>/dev/null || { tail -20 "$home/consume.log" >&2; exit 1; }
        sleep 2
    done
    kill -INT "$consumer_pid"
    wait "$consumer_pid" || true
    consumer_pid=""
    touch "$home/fixed-built"
    done_step "$stored rows through the stages"
fi

step "6. report"
"$bin" report --db "$url" --out "$out" >"$home/report.log" 2>&1 || { cat "$home/report.log" >&2; exit 1; }
done_step "$(ls "$out"/fig_*.png | wc -l) figures"
cat "$home/report.log" >&2
printf 'total %.1f s; home %s\n' "$(echo "$(date +%s.%N) - $t_all" | bc)" "$home" >&2
