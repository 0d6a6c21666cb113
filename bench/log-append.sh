#!/usr/bin/env bash
# Log engine benchmark (run by hand; see bench/README.md).
#
#   1. Append throughput: 1 KiB records in batches of 100 to one partition, SIZE_MB in total, interval flush
#      policy (fsync every second), then a final fsync; next to `dd bs=1M conv=fdatasync` of the same size.
#   2. Sequential read MB/s of that partition from its first offset, page cache dropped (posix_fadvise DONTNEED).
#   3. Group commit: records/s with an fsync before every acknowledgement (flush.messages=1) and 16 concurrent
#      appenders, with 1 record per append and with 100 records per append.
#
# Each measurement runs RUNS times, alternating dd and runnel so both see the same machine state; the script prints
# every run and the medians. With BASELINE_RUNNEL=/path/to/other/runnel, the same measurements also run with that
# binary, interleaved, to compare a change against the code before it in one command.
# Data goes to BENCH_DIR (default: a new directory under the current one, on the data disk).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-2048}
RUNS=${RUNS:-3}
COMMIT_RECORDS=${COMMIT_RECORDS:-100000}
# shellcheck source=bench/common.sh
source bench/common.sh

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; disk: $(df -h "$BENCH_DIR" | awk 'NR==2 {print $1}')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); size: ${SIZE_MB} MiB; runs: $RUNS; binaries: ${!BINARIES[*]}"

for run in $(seq 1 "$RUNS"); do
    echo "run $run"
    # dd: write SIZE_MB of zeros and fdatasync, as the baseline the disk allows.
    dd_out=$(dd if=/dev/zero of="$BENCH_DIR/dd.bin" bs=1M count="$SIZE_MB" conv=fdatasync 2>&1 | tail -1)
    dd_bytes=$(echo "$dd_out" | awk '{print $1}')
    dd_seconds=$(echo "$dd_out" | sed -E 's/.* copied, ([0-9.]+) s.*/\1/')
    record "dd_mb_per_s" "$(python3 -c "print($dd_bytes / $dd_seconds / 1e6)")" "MB/s"
    rm -f "$BENCH_DIR/dd.bin"

    for name in "${!BINARIES[@]}"; do
        bin=${BINARIES[$name]}
        # The same bytes through the log: 1 KiB records, batches of 100, interval flush policy, final fsync.
        out=$("$bin" log-perf --data-dir "$BENCH_DIR/append" --total-bytes $((SIZE_MB * 1024 * 1024)) \
            --record-size 1024 --batch-size 100 --flush-policy interval --flush-interval-ms 1000 --read --cold --json)
        record "${name}_append_mb_per_s" "$(json_field "$out" append_mb_per_second)" "MB/s"
        record "${name}_cold_read_mb_per_s" "$(json_field "$out" read_mb_per_second)" "MB/s"
        rm -rf "$BENCH_DIR/append"

        # Group commit: fsync before every acknowledgement, 16 concurrent appenders.
        for batch in 1 100; do
            records=$((batch == 1 ? COMMIT_RECORDS : COMMIT_RECORDS * 5))
            out=$("$bin" log-perf --data-dir "$BENCH_DIR/commit" --records "$records" --record-size 1024 \
                --batch-size "$batch" --appenders 16 --flush-policy every-append --json)
            record "${name}_every_append_16x${batch}_records_per_s" "$(json_field "$out" records_per_second)" "records/s"
            rm -rf "$BENCH_DIR/commit"
        done
    done
done

echo "medians"
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    entry = json.loads(line)
    runs.setdefault(entry["name"], (entry["unit"], []))[1].append(entry["value"])
for name, (unit, values) in runs.items():
    print(f"  {name:44} {statistics.median(values):12.1f} {unit}   (runs: {', '.join(f'{v:.1f}' for v in values)})")
for binary in ("runnel", "baseline"):
    if f"{binary}_append_mb_per_s" not in runs:
        continue
    ratios = [a / d for a, d in zip(runs[f"{binary}_append_mb_per_s"][1], runs["dd_mb_per_s"][1])]
    print(f"  {binary + ' append / dd (median of per-run ratios)':44} {statistics.median(ratios):12.2f}   (runs: {', '.join(f'{r:.2f}' for r in ratios)})")
if "baseline_append_mb_per_s" in runs:
    for metric in ("append_mb_per_s", "cold_read_mb_per_s", "every_append_16x1_records_per_s", "every_append_16x100_records_per_s"):
        ratios = [a / b for a, b in zip(runs[f"runnel_{metric}"][1], runs[f"baseline_{metric}"][1])]
        print(f"  {'runnel / baseline ' + metric:44} {statistics.median(ratios):12.2f}   (runs: {', '.join(f'{r:.2f}' for r in ratios)})")
PY
