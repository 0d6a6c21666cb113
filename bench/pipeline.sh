#!/usr/bin/env bash
# Built-in connectors benchmark: a SQLite table of ROWS rows into a topic with the SQLite source (incrementing mode),
# timed from creating the connector until its committed offset reaches the last row, next to `sqlite3 -json` dumping
# the same table; then that topic (now a backlog) into a local bucket with the S3-layout sink (JsonFormat), timed until
# the object holding the last record is published, next to `cat` of the objects' bytes. Reports rows/s, records/s, MB/s, the
# ratios, and the server's peak RSS after each phase. With BASELINE_RUNNEL set, each round also runs that binary.
# See bench/README.md.
#
#   ROUNDS (3)         rounds per binary, interleaved
#   ROWS (1000000)     rows in the table
#   FLUSH (100000)     the sink's flush.size (records per object); ROWS must be a multiple of it
#   COMPRESSION (none) the sink's s3.compression.type
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-1000000}
FLUSH=${FLUSH:-100000}
COMPRESSION=${COMPRESSION:-none}
CONNECT_PORT=18283

DB="$BENCH_DIR/shop.db"
python3 - "$DB" "$ROWS" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("""CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, item TEXT NOT NULL,
              quantity INTEGER NOT NULL, price REAL NOT NULL, updated_at DATETIME NOT NULL)""")
db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
               ((i, f"customer-{i % 5000}", f"item-{i % 997}", i % 7 + 1, (i % 10000) / 100,
                 f"2026-11-{i % 28 + 1:02d} 12:{i % 60:02d}:00") for i in range(1, int(sys.argv[2]) + 1)))
db.commit()
PY
echo "$ROWS rows, database $(($(stat -c %s "$DB") / 1048576)) MB"

now() { date +%s.%N; }
connect() { curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$CONNECT_PORT/connectors" -d "$1" >/dev/null; }
# The committed offset of a connector: the source's incrementing value, or the sink's next Kafka offset.
committed() {
    curl -sf "http://127.0.0.1:$CONNECT_PORT/connectors/$1/offsets" | python3 -c '
import json, sys
offsets = json.load(sys.stdin)["offsets"]
print(max([o["offset"].get("incrementing", o["offset"].get("kafka_offset", 0)) for o in offsets] or [0]))'
}

for round in $(seq "$ROUNDS"); do
    start=$(now)
    sqlite3 -json "$DB" 'SELECT * FROM orders' >"$BENCH_DIR/dump.json"
    sqlite_seconds=$(python3 -c "print($(now) - $start)")
    record "sqlite3_json.rows_per_s.round$round" "$(python3 -c "print($ROWS / $sqlite_seconds)")" rows/s
    for name in "${!BINARIES[@]}"; do
        rm -rf "$BENCH_DIR/data" "$BENCH_DIR/cat.out"
        "${BINARIES[$name]}" serve --data-dir "$BENCH_DIR/data" --proxy-port 0 --connect-port $CONNECT_PORT --log-level warning &
        pid=$!
        until curl -sf "http://127.0.0.1:$CONNECT_PORT/" >/dev/null; do sleep 0.1; done

        start=$(now)
        connect "{\"name\": \"source\", \"config\": {\"connector.class\": \"SqliteSource\",
            \"connection.url\": \"jdbc:sqlite:$DB\", \"mode\": \"incrementing\", \"topic.prefix\": \"shop-\",
            \"batch.max.rows\": \"10000\", \"poll.interval.ms\": \"200\",
            \"key.converter\": \"org.apache.kafka.connect.storage.StringConverter\",
            \"value.converter.schemas.enable\": \"false\"}}"
        until [ "$(committed source)" -ge "$ROWS" ]; do sleep 0.05; done
        seconds=$(python3 -c "print($(now) - $start)")
        rate=$(python3 -c "print($ROWS / $seconds)")
        record "$name.source.rows_per_s.round$round" "$rate" rows/s
        record "$name.source.ratio_to_sqlite3.round$round" "$(python3 -c "print($rate / ($ROWS / $sqlite_seconds))")" ratio
        record "$name.source.peak_rss_mb.round$round" "$(awk '/VmHWM/ {print $2 / 1024}' /proc/$pid/status)" MB

        start=$(now)
        connect "{\"name\": \"sink\", \"config\": {\"connector.class\": \"S3Sink\", \"topics\": \"shop-orders\",
            \"s3.bucket.name\": \"lake\", \"flush.size\": \"$FLUSH\", \"s3.compression.type\": \"$COMPRESSION\",
            \"key.converter\": \"org.apache.kafka.connect.storage.StringConverter\",
            \"value.converter.schemas.enable\": \"false\", \"offset.flush.interval.ms\": \"500\"}}"
        # Done when the object holding the last row is published (objects appear whole, by rename); the committed
        # offset follows at the next offset.flush.interval.ms.
        last=$(printf '%s/data/buckets/lake/topics/shop-orders/partition=0/shop-orders+0+%010d.json' "$BENCH_DIR" $(((ROWS - 1) / FLUSH * FLUSH)))
        [ "$COMPRESSION" = gzip ] && last="$last.gz"
        until [ -f "$last" ]; do sleep 0.01; done
        seconds=$(python3 -c "print($(now) - $start)")
        objects=$(find "$BENCH_DIR/data/buckets/lake" -type f)
        bytes=$(cat $objects | wc -c)
        record "$name.sink.records_per_s.round$round" "$(python3 -c "print($ROWS / $seconds)")" records/s
        record "$name.sink.mb_per_s.round$round" "$(python3 -c "print($bytes / $seconds / 1048576)")" MB/s
        record "$name.sink.peak_rss_mb.round$round" "$(awk '/VmHWM/ {print $2 / 1024}' /proc/$pid/status)" MB
        kill -TERM $pid
        wait $pid || true

        # cat: the objects' bytes from the page cache to a new file, as the floor of any sink.
        start=$(now)
        cat $objects >"$BENCH_DIR/cat.out"
        sync "$BENCH_DIR/cat.out"
        cat_seconds=$(python3 -c "print($(now) - $start)")
        record "cat.mb_per_s.round$round" "$(python3 -c "print($bytes / $cat_seconds / 1048576)")" MB/s
        record "$name.sink.ratio_to_cat.round$round" "$(python3 -c "print($cat_seconds / $seconds)")" ratio
    done
done

print_medians
