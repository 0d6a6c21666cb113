#!/usr/bin/env bash
# Console benchmark: what the dashboard and /metrics cost an idle server. Starts a server with TOPICS topics of
# PARTITIONS partitions (1 000 partitions by default) and a consumer group, then
#   1. times GET /metrics and GET /ui/api/series (hyperfine, 20 runs each);
#   2. measures the server's CPU (user + system time from /proc) over SECONDS seconds with nothing polling, then
#      with the dashboard open in headless Chromium (Playwright) on each page in turn: overview, topics, a topic,
#      groups, connectors.
# Reports milliseconds and CPU percent of one core. Needs hyperfine and the test venv (make venv). See bench/README.md.
#
#   TOPICS (10) PARTITIONS (100) SECONDS (30)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
TOPICS=${TOPICS:-10}
PARTITIONS=${PARTITIONS:-100}
SECONDS_IDLE=${SECONDS:-30}
PORT=18282
PYTHON=${PYTHON:-.venv/bin/python}

runnel="${BINARIES[runnel]}"
"$runnel" serve --data-dir "$BENCH_DIR/data" --proxy-port $PORT --connect-port 0 --log-level warning &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$BENCH_DIR"' EXIT
until curl -sf "http://127.0.0.1:$PORT/v3/clusters" >/dev/null; do sleep 0.1; done
export RUNNEL_URL="http://127.0.0.1:$PORT"
for i in $(seq "$TOPICS"); do "$runnel" topic create "topic-$i" --partitions "$PARTITIONS" >/dev/null; done
seq 1 1000 | "$runnel" produce topic-1 >/dev/null
"$runnel" consume topic-1 --group readers --from-beginning --max-messages 500 >/dev/null 2>&1

for path in /metrics /ui/api/series /ui/api/partitions; do
    mean=$(hyperfine -N --runs 20 --warmup 3 --export-json "$BENCH_DIR/h.json" "curl -s $RUNNEL_URL$path" >/dev/null &&
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000)' "$BENCH_DIR/h.json")
    record "get$(echo "$path" | tr '/' '_').ms" "$mean" ms
done

cpu() { awk '{print ($14 + $15) / 100}' "/proc/$pid/stat"; } # user + system, in clock ticks (100/s)
sleep 3
before=$(cpu); sleep "$SECONDS_IDLE"; after=$(cpu)
record "idle.cpu_percent" "$(python3 -c "print(($after - $before) / $SECONDS_IDLE * 100)")" "%"

for page in overview topics topics/topic-1 groups connectors; do
    "$PYTHON" - "$RUNNEL_URL/ui#/$page" "$SECONDS_IDLE" "$pid" >"$BENCH_DIR/page.out" <<'PY'
import shutil, sys, time
from playwright.sync_api import sync_playwright
url, seconds, pid = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(url)
    time.sleep(3)
    before = cpu()
    time.sleep(seconds)
    print((cpu() - before) / seconds * 100)
    browser.close()
PY
    record "dashboard_$(echo "$page" | tr '/' '_').cpu_percent" "$(cat "$BENCH_DIR/page.out")" "%"
done
