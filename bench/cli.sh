#!/usr/bin/env bash
# CLI benchmark: `runnel produce --file` of LINES lines (about 100 bytes each) into a topic of PARTITIONS partitions,
# then `runnel consume --from-beginning --max-messages LINES` of that topic to /dev/null, each timed as a whole
# command (the server already running), next to `cat` of the same file. Reports lines/s for each, and the peak RSS of
# each CLI process. With BASELINE_RUNNEL set, each round also runs that binary (server and CLI). See bench/README.md.
#
#   ROUNDS (3)           rounds per binary, interleaved
#   LINES (1000000)      lines in the file
#   PARTITIONS (1)       partitions of the topic
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-3}
LINES=${LINES:-1000000}
PARTITIONS=${PARTITIONS:-1}
PORT=18282

FILE="$BENCH_DIR/lines.txt"
python3 - "$FILE" "$LINES" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    for i in range(int(sys.argv[2])):
        out.write(f"order-{i:09d},customer-{i % 5000:05d},item-{i % 997:04d},qty={i % 7 + 1},note=benchmark line padding\n")
PY
echo "$LINES lines, $(($(stat -c %s "$FILE") / 1048576)) MB"

now() { date +%s.%N; }
peak() { awk '/Maximum resident/ {print $6 / 1024}' "$1"; }

for round in $(seq "$ROUNDS"); do
    for name in "${!BINARIES[@]}"; do
        runnel="${BINARIES[$name]}"
        rm -rf "$BENCH_DIR/data"
        "$runnel" serve --data-dir "$BENCH_DIR/data" --proxy-port $PORT --connect-port 0 --log-level warning &
        pid=$!
        until curl -sf "http://127.0.0.1:$PORT/v3/clusters" >/dev/null; do sleep 0.1; done
        export RUNNEL_URL="http://127.0.0.1:$PORT"
        "$runnel" topic create lines --partitions "$PARTITIONS" >/dev/null

        start=$(now)
        /usr/bin/time -v "$runnel" produce lines --file "$FILE" 2>"$BENCH_DIR/produce.time"
        seconds=$(python3 -c "print($(now) - $start)")
        record "$name.produce.lines_per_s.round$round" "$(python3 -c "print($LINES / $seconds)")" lines/s
        record "$name.produce.peak_rss_mb.round$round" "$(peak "$BENCH_DIR/produce.time")" MB

        start=$(now)
        /usr/bin/time -v "$runnel" consume lines --from-beginning --max-messages "$LINES" >"$BENCH_DIR/consumed.txt" \
            2>"$BENCH_DIR/consume.time"
        seconds=$(python3 -c "print($(now) - $start)")
        [ "$(wc -l <"$BENCH_DIR/consumed.txt")" -eq "$LINES" ] || { echo "consumed $(wc -l <"$BENCH_DIR/consumed.txt") lines"; exit 1; }
        if [ "$PARTITIONS" -eq 1 ]; then cmp -s "$FILE" "$BENCH_DIR/consumed.txt" || { echo "consumed lines differ"; exit 1; }; fi
        record "$name.consume.lines_per_s.round$round" "$(python3 -c "print($LINES / $seconds)")" lines/s
        record "$name.consume.peak_rss_mb.round$round" "$(peak "$BENCH_DIR/consume.time")" MB

        kill "$pid"; wait "$pid" || true
    done
    start=$(now)
    cat "$FILE" >/dev/null
    record "cat.lines_per_s.round$round" "$(python3 -c "print($LINES / ($(now) - $start))")" lines/s
done
print_medians
