#!/usr/bin/env bash
# Connect worker benchmark: Kafka's quick-start pipeline, a file of LINES lines of ~100 bytes through FileStreamSource
# → topic → FileStreamSink, timed from creating the connectors until the sink's file has every line; compared with
# `cat` of the same file in the same run. Reports lines/s end to end, the ratio to cat, and the server's peak RSS.
# With BASELINE_RUNNEL set, each round also runs that binary. See bench/README.md.
#
#   ROUNDS (3)          rounds per binary, interleaved
#   LINES (1000000)     lines in the file
#   CONVERTER (string)  string: StringConverter for keys and values; json: the default JsonConverter envelope
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-3}
LINES=${LINES:-1000000}
CONVERTER=${CONVERTER:-string}
CONNECT_PORT=18183

INPUT="$BENCH_DIR/in.txt"
python3 - "$INPUT" "$LINES" <<'PY'
import sys
with open(sys.argv[1], "w") as file:
    for i in range(int(sys.argv[2])):
        file.write(f"{i:010d} " + "the quick brown fox jumps over the lazy dog, " * 2 + "0123456\n")
PY
echo "$(wc -l <"$INPUT") lines, $(($(stat -c %s "$INPUT") / $LINES)) bytes per line"
if [ "$CONVERTER" = string ]; then
    CONVERTERS='"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter",'
else
    CONVERTERS=''
fi

now() { date +%s.%N; }

for round in $(seq "$ROUNDS"); do
    # cat: the same bytes from the page cache to a new file, as the floor of any pipeline.
    rm -f "$BENCH_DIR/cat.txt"
    start=$(now)
    cat "$INPUT" >"$BENCH_DIR/cat.txt"
    sync "$BENCH_DIR/cat.txt"
    cat_seconds=$(python3 -c "print($(now) - $start)")
    record "cat.lines_per_s.round$round" "$(python3 -c "print($LINES / $cat_seconds)")" lines/s
    for name in "${!BINARIES[@]}"; do
        rm -rf "$BENCH_DIR/data" "$BENCH_DIR/out.txt"
        "${BINARIES[$name]}" serve --data-dir "$BENCH_DIR/data" --proxy-port 0 --connect-port $CONNECT_PORT --log-level warning &
        pid=$!
        until curl -sf "http://127.0.0.1:$CONNECT_PORT/" >/dev/null; do sleep 0.1; done
        start=$(now)
        curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$CONNECT_PORT/connectors" -d "{\"name\": \"sink\",
            \"config\": {\"connector.class\": \"FileStreamSink\", \"file\": \"$BENCH_DIR/out.txt\", \"topics\": \"lines\", $CONVERTERS
                         \"offset.flush.interval.ms\": \"1000\"}}" >/dev/null
        curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$CONNECT_PORT/connectors" -d "{\"name\": \"source\",
            \"config\": {\"connector.class\": \"FileStreamSource\", \"file\": \"$INPUT\", \"topic\": \"lines\", $CONVERTERS \"batch.size\": \"2000\"}}" >/dev/null
        until [ -f "$BENCH_DIR/out.txt" ] && [ "$(wc -l <"$BENCH_DIR/out.txt")" -ge "$LINES" ]; do sleep 0.05; done
        seconds=$(python3 -c "print($(now) - $start)")
        rate=$(python3 -c "print($LINES / $seconds)")
        record "$name.connect.lines_per_s.round$round" "$rate" lines/s
        record "$name.connect.ratio_to_cat.round$round" "$(python3 -c "print($rate / ($LINES / $cat_seconds))")" ratio
        record "$name.connect.peak_rss_mb.round$round" "$(awk '/VmHWM/ {print $2 / 1024}' /proc/$pid/status)" MB
        if [ "$CONVERTER" = string ]; then cmp -s "$INPUT" "$BENCH_DIR/out.txt" || { echo "output differs from input" >&2; exit 1; }; fi
        kill -TERM $pid
        wait $pid || true
    done
done

print_medians
