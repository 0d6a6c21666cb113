# Shared by the benchmark scripts (sourced, not run): a scratch directory, the release build of runnel (and
# BASELINE_RUNNEL, when set, as a second binary to interleave with), and result recording.
#
#   BENCH_DIR        where data goes (default: a new directory under the current one, on the data disk)
#   BINARIES         name → runnel binary: "runnel", plus "baseline" with BASELINE_RUNNEL
#   record N V U     prints a measurement and appends it to $RESULTS (JSON lines)
#   json_field J F   field F of the JSON object J
#   print_medians    the median of each measurement over its rounds (names ending in .round<N>)

BENCH_DIR=${BENCH_DIR:-$(mktemp -d "$PWD/bench-data.XXXXXX")}
mkdir -p "$BENCH_DIR"
trap 'rm -rf "$BENCH_DIR"' EXIT

swift build -c release --product runnel >/dev/null
declare -A BINARIES=([runnel]="$(swift build -c release --show-bin-path)/runnel")
if [ -n "${BASELINE_RUNNEL:-}" ]; then BINARIES[baseline]="$BASELINE_RUNNEL"; fi
RESULTS="$BENCH_DIR/results.jsonl"
: >"$RESULTS"

record() { # name value unit
    printf '{"name":"%s","value":%s,"unit":"%s"}\n' "$1" "$2" "$3" >>"$RESULTS"
    printf '  %-44s %12.2f %s\n' "$1" "$2" "$3"
}

json_field() { # json field
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

print_medians() {
    python3 - "$RESULTS" <<'PY'
import json, statistics, sys, collections
values = collections.defaultdict(list)
for line in open(sys.argv[1]):
    item = json.loads(line)
    values[item["name"].rsplit(".round", 1)[0]].append(item["value"])
print("medians:")
for name, numbers in sorted(values.items()):
    print(f"  {name:44s} {statistics.median(numbers):14.2f}")
PY
}
