#!/usr/bin/env bash
# Broker core benchmark (run by hand; see bench/README.md).
#
#   1. Produce throughput through the Broker protocol (in process, no network): RECORDS keyed records of 100 bytes,
#      100 per produce call, to a 6-partition topic, interval flush policy; next to two raw log-append runs of
#      `runnel log-perf` with the same records and flush policy, alternating all three in every run:
#        log1: batches of 100 appended to one partition log (the log engine's own benchmark shape);
#        log6: each 100 records split into 6 batches, one per partition log, appended in one request (the storage
#              work of the broker's produce, without the broker).
#      broker/log6 is the cost of the broker layer (partitioning, batching, the API); log6/log1 is the cost of
#      writing 6 partitions instead of one.
#   2. Long-poll fetch latency: one record every 2 ms, timed from the produce call to the return of a consumer's
#      long-poll fetch (p50/p99/p99.9), interval flush policy.
#   3. Memory: resident set size with 1 000 partitions open (plus __consumer_offsets' 50), after reopening.
#
# With BASELINE_RUNNEL=/path/to/other/runnel, the produce runs also use that binary, interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
RECORDS=${RECORDS:-1000000}
LATENCY_RECORDS=${LATENCY_RECORDS:-5000}
# shellcheck source=bench/common.sh
source bench/common.sh

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); records: $RECORDS; runs: $RUNS; binaries: ${!BINARIES[*]}"

for run in $(seq 1 "$RUNS"); do
    echo "run $run"
    for name in "${!BINARIES[@]}"; do
        binary=${BINARIES[$name]}
        rm -rf "$BENCH_DIR/log" "$BENCH_DIR/log6" "$BENCH_DIR/broker"
        log=$("$binary" log-perf --data-dir "$BENCH_DIR/log" --records "$RECORDS" --record-size 100 --batch-size 100 --json)
        log_rate=$(json_field "$log" records_per_second)
        broker=$("$binary" broker-perf produce --data-dir "$BENCH_DIR/broker" --records "$RECORDS" --record-size 100 \
            --batch-size 100 --partitions 6 --keys 10000 --json)
        broker_rate=$(json_field "$broker" records_per_second)
        log6=$("$binary" log-perf --data-dir "$BENCH_DIR/log6" --records "$RECORDS" --record-size 100 --batch-size 100 \
            --partitions 6 --json)
        log6_rate=$(json_field "$log6" records_per_second)
        record "${name}_log1_append_records_per_s" "$log_rate" "records/s"
        record "${name}_log6_append_records_per_s" "$log6_rate" "records/s"
        record "${name}_broker_produce_records_per_s" "$broker_rate" "records/s"
        record "${name}_broker_to_log6_ratio" "$(python3 -c "print($broker_rate / $log6_rate)")" "ratio"
        record "${name}_broker_to_log1_ratio" "$(python3 -c "print($broker_rate / $log_rate)")" "ratio"
    done
done

echo "latency"
rm -rf "$BENCH_DIR/latency"
latency=$("${BINARIES[runnel]}" broker-perf latency --data-dir "$BENCH_DIR/latency" --records "$LATENCY_RECORDS" \
    --interval-ms 2 --json)
for field in p50_ms p99_ms p999_ms max_ms; do record "fetch_latency_$field" "$(json_field "$latency" $field)" "ms"; done

echo "memory"
rm -rf "$BENCH_DIR/memory"
memory=$("${BINARIES[runnel]}" broker-perf memory --data-dir "$BENCH_DIR/memory" --partitions 1000 --json)
for field in partitions_open rss_open_mb rss_per_partition_kb create_seconds reopen_seconds; do
    record "memory_$field" "$(json_field "$memory" $field)" ""
done

echo "medians"
python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
values = {}
for line in open(sys.argv[1]):
    entry = json.loads(line)
    values.setdefault(entry["name"], []).append(entry["value"])
for name, series in values.items():
    print(f"  {name:44s} median {statistics.median(series):12.2f}   runs {', '.join(f'{v:.2f}' for v in series)}")
EOF
