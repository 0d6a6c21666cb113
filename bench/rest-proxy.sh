#!/usr/bin/env bash
# REST proxy benchmark: v2 JSON produce over 32 keep-alive connections with wrk, against `runnel serve` and against
# a Hummingbird server that does nothing with the same body (bench/http-baseline), interleaved; then consuming a
# backlog of v2 records with a consumer instance. With BASELINE_RUNNEL set, each produce round also runs that
# binary, so two builds are compared in the same command. See bench/README.md.
#
#   ROUNDS (3)       interleaved produce rounds per server
#   DURATION (15s)   wrk duration per round
#   BACKLOG (1000000) records for the consume benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15s}
BACKLOG=${BACKLOG:-1000000}
PROXY_PORT=18182
NOOP_PORT=18190

(cd bench/http-baseline && swift build -c release >/dev/null)
NOOP="bench/http-baseline/.build/release/noop-server"

# 100 keyed records with ~100-byte JSON values.
BODY_FILE="$BENCH_DIR/body.json"
python3 - "$BODY_FILE" <<'PY'
import json, sys
records = [{"key": f"user-{i:04d}", "value": {"id": i, "name": f"user number {i:04d}", "email": f"user{i:04d}@example.com", "active": True, "score": i * 1.5}} for i in range(100)]
print(len(json.dumps(records[0]["value"])), "bytes per value", file=sys.stderr)
open(sys.argv[1], "w").write(json.dumps({"records": records}))
PY
export BODY_FILE

start_runnel() { # binary name; a new data directory with a 6-partition topic `bench`
    rm -rf "$BENCH_DIR/data"
    "${BINARIES[$1]}" serve --data-dir "$BENCH_DIR/data" --proxy-port $PROXY_PORT --connect-port 0 --log-level warning &
    RUNNEL_PID=$!
    until curl -sf "http://127.0.0.1:$PROXY_PORT/v3/clusters" >/dev/null; do sleep 0.1; done
    local cluster
    cluster=$(curl -s "http://127.0.0.1:$PROXY_PORT/v3/clusters" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["cluster_id"])')
    curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$PROXY_PORT/v3/clusters/$cluster/topics" \
        -d '{"topic_name":"bench","partitions_count":6}' >/dev/null
}

stop_runnel() {
    kill -TERM $RUNNEL_PID
    wait $RUNNEL_PID || true
}

wrk_run() { # port → "requests/s p99-ms"
    wrk -t2 -c32 -d"$DURATION" --latency -s bench/produce.lua "http://127.0.0.1:$1" | python3 -c '
import re, sys
text = sys.stdin.read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit("wrk saw non-2xx responses: " + errors.group(1))
print(rate, float(p99.group(1)) * scale)'
}

"$NOOP" $NOOP_PORT &
NOOP_PID=$!
until curl -s -o /dev/null "http://127.0.0.1:$NOOP_PORT/"; do sleep 0.1; done

echo "produce: wrk -t2 -c32 -d$DURATION, 100 records per request"
for round in $(seq "$ROUNDS"); do
    read -r noop _ < <(wrk_run $NOOP_PORT)
    record "noop.requests_per_s.round$round" "$noop" requests/s
    for name in "${!BINARIES[@]}"; do
        start_runnel "$name"
        read -r rate p99 < <(wrk_run $PROXY_PORT)
        record "$name.produce.records_per_s.round$round" "$(python3 -c "print($rate * 100)")" records/s
        record "$name.produce.p99_ms.round$round" "$p99" ms
        record "$name.produce.ratio_to_noop.round$round" "$(python3 -c "print($rate / $noop)")" ratio
        record "$name.produce.peak_rss_mb.round$round" "$(awk '/VmHWM/ {print $2 / 1024}' /proc/$RUNNEL_PID/status)" MB
        stop_runnel
    done
done
kill $NOOP_PID

start_runnel runnel
echo "consume: $BACKLOG records backlog, v2 binary records, max_bytes 1 MiB"
python3 - "http://127.0.0.1:$PROXY_PORT" "$BACKLOG" "$RESULTS" <<'PY'
import json, sys, time, urllib.request
base, backlog, results = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def call(method, path, body=None, ctype="application/vnd.kafka.v2+json", accept=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else body.encode())
    request.add_header("Content-Type", ctype)
    if accept: request.add_header("Accept", accept)
    with urllib.request.urlopen(request) as response:
        return response.read()
call("POST", "/v3/clusters/" + json.loads(call("GET", "/v3/clusters"))["data"][0]["cluster_id"] + "/topics",
     json.dumps({"topic_name": "backlog", "partitions_count": 6}), "application/json")
value = "x" * 100
body = json.dumps({"records": [{"key": f"k{i}", "value": value} for i in range(1000)]})
for _ in range(backlog // 1000):
    call("POST", "/topics/backlog", body, "application/vnd.kafka.json.v2+json")
call("POST", "/consumers/bench", json.dumps({"name": "c", "format": "binary", "auto.offset.reset": "earliest"}))
call("POST", "/consumers/bench/instances/c/assignments", json.dumps({"partitions": [{"topic": "backlog", "partition": p} for p in range(6)]}))
started = time.time()
count = 0
while count < backlog:
    data = call("GET", "/consumers/bench/instances/c/records?max_bytes=1048576&timeout=1000", accept="application/vnd.kafka.binary.v2+json")
    count += data.count(b'"offset":')
elapsed = time.time() - started
rate = count / elapsed
print(f"  consume.records_per_s {rate:.0f} records/s ({count} in {elapsed:.1f}s)")
with open(results, "a") as file:
    file.write(json.dumps({"name": "consume.records_per_s", "value": rate, "unit": "records/s"}) + "\n")
PY
stop_runnel
