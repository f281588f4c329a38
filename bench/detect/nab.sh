#!/bin/sh
# bench/detect/nab.sh: scores pgpulse's anomaly_score on the NAB development split.
#
#   bench/detect/nab.sh [--detector LIST] [--keep DIR] [--set NAME=VALUE ...]
#
# Replays every data/<category>/<name>.csv of the split through `pgpulse detect --replay` (one
# configuration, the defaults, for every file: no per-file tuning), then scores the results
# with the shared NAB scorer, which prints one line per profile and nab_standard=<score>.
# Environment: BIN (default ./pgpulse), NAB_ROOT (default ../shared/data/nab-dev),
# NAB_SCORE (default ../shared/tools/nab_score.py), relative to the repository root.
set -eu
cd "$(dirname "$0")/../.."
BIN=${BIN:-./pgpulse}
NAB_ROOT=${NAB_ROOT:-../shared/data/nab-dev}
NAB_SCORE=${NAB_SCORE:-../shared/tools/nab_score.py}
DETECTOR=all
SETS=
KEEP=
while [ $# -gt 0 ]; do
    case $1 in
    --detector) DETECTOR=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --set) SETS="$SETS --set $2"; shift 2 ;;
    *) echo "usage: $0 [--detector LIST] [--keep DIR]" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "nab.sh: no binary at $BIN (set BIN)" >&2; exit 1; }
[ -d "$NAB_ROOT/data" ] || { echo "nab.sh: no NAB split at $NAB_ROOT (set NAB_ROOT)" >&2; exit 1; }
if [ -n "$KEEP" ]; then
    RES=$KEEP
    mkdir -p "$RES"
else
    RES=$(mktemp -d)
    trap 'rm -rf "$RES"' EXIT
fi
start=$(date +%s.%N)
rows=0
for f in "$NAB_ROOT"/data/*/*.csv; do
    rel=${f#"$NAB_ROOT"/data/}
    mkdir -p "$RES/$(dirname "$rel")"
    "$BIN" detect --replay "$f" --out "$RES/$rel" --detector "$DETECTOR" $SETS 2>/dev/null
    rows=$((rows + $(wc -l < "$f") - 1))
done
end=$(date +%s.%N)
echo "detector=$DETECTOR files=$(ls "$NAB_ROOT"/data/*/*.csv | wc -l) rows=$rows replay_s=$(echo "$end - $start" | bc)"
python3 "$NAB_SCORE" "$NAB_ROOT" "$RES"
