#!/usr/bin/env bash
# The cost of security on the REST proxy's produce path: the benchmark of bench/rest-proxy.sh (v2 JSON produce,
# 100 keyed records per request, wrk -t2 -c32) against the same binary three ways, interleaved round by round:
# plaintext without authentication, plaintext with an API key on every request (--auth required), and TLS with an
# API key. A 6-partition topic `bench` is created in each. See bench/README.md.
#
#   ROUNDS (3)       interleaved rounds
#   DURATION (15s)   wrk duration per run
# Needs wrk and openssl (a self-signed certificate is made for the TLS runs; wrk does not verify it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15s}
PORT=18282
RUNNEL="${BINARIES[runnel]}"

BODY_FILE="$BENCH_DIR/body.json"
python3 - "$BODY_FILE" <<'PY'
import json, sys
records = [{"key": f"user-{i:04d}", "value": {"id": i, "name": f"user number {i:04d}", "email": f"user{i:04d}@example.com", "active": True, "score": i * 1.5}} for i in range(100)]
open(sys.argv[1], "w").write(json.dumps({"records": records}))
PY
export BODY_FILE
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BENCH_DIR/key.pem" -out "$BENCH_DIR/cert.pem" -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

start() { # mode: plain | auth | tls
    rm -rf "$BENCH_DIR/data"
    local flags=(--auth off) scheme=http
    AUTH_HEADER=()
    if [ "$1" != plain ]; then
        local created
        created=$("$RUNNEL" api-key create --data-dir "$BENCH_DIR/data" --super-user -o json)
        local key secret
        key=$(json_field "$created" key)
        secret=$(json_field "$created" secret)
        AUTH_HEADER=(-H "Authorization: Basic $(printf '%s:%s' "$key" "$secret" | base64 -w0)")
        flags=(--auth required)
    fi
    if [ "$1" = tls ]; then
        flags+=(--tls-cert "$BENCH_DIR/cert.pem" --tls-key "$BENCH_DIR/key.pem")
        scheme=https
    fi
    "$RUNNEL" serve --data-dir "$BENCH_DIR/data" --proxy-port $PORT --connect-port 0 --log-level warning "${flags[@]}" &
    PID=$!
    URL="$scheme://127.0.0.1:$PORT"
    until curl -skf "${AUTH_HEADER[@]}" "$URL/v3/clusters" >/dev/null; do sleep 0.1; done
    local cluster
    cluster=$(curl -sk "${AUTH_HEADER[@]}" "$URL/v3/clusters" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["cluster_id"])')
    curl -skf "${AUTH_HEADER[@]}" -XPOST -H 'Content-Type: application/json' "$URL/v3/clusters/$cluster/topics" \
        -d '{"topic_name":"bench","partitions_count":6}' >/dev/null
}

stop() {
    kill -TERM $PID
    wait $PID || true
}

run_wrk() { # → "requests/s p99-ms"
    wrk -t2 -c32 -d"$DURATION" --latency "${AUTH_HEADER[@]}" -s bench/produce.lua "$URL" | python3 -c '
import re, sys
text = sys.stdin.read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit("wrk saw non-2xx responses: " + errors.group(1))
print(rate, float(p99.group(1)) * scale)'
}

echo "produce: wrk -t2 -c32 -d$DURATION, 100 records per request"
for round in $(seq "$ROUNDS"); do
    for mode in plain auth tls; do
        start $mode
        read -r rate p99 < <(run_wrk)
        record "$mode.produce.records_per_s.round$round" "$(python3 -c "print($rate * 100)")" records/s
        record "$mode.produce.p99_ms.round$round" "$p99" ms
        stop
    done
done
print_medians
python3 - "$RESULTS" <<'PY'
import json, statistics, sys, collections
values = collections.defaultdict(list)
for line in open(sys.argv[1]):
    item = json.loads(line)
    values[item["name"].rsplit(".round", 1)[0]].append(item["value"])
plain = statistics.median(values["plain.produce.records_per_s"])
for mode in ("auth", "tls"):
    ratio = statistics.median(values[f"{mode}.produce.records_per_s"]) / plain
    print(f"  {mode} / plain: {ratio:.3f} ({(1 - ratio) * 100:.1f} % loss)")
PY
