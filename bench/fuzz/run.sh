#!/usr/bin/env bash
# Runs the libFuzzer fuzzers for a while: bench/fuzz/run.sh [SECONDS per fuzzer, default 60] [fuzzer...]
# Corpora are kept in bench/fuzz/corpus/<fuzzer> (seeded with valid inputs); crashes are written to
# bench/fuzz/artifacts/. Needs only the Swift toolchain (libFuzzer ships with it).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
fuzzers=("$@")
[ ${#fuzzers[@]} -gt 0 ] || fuzzers=(FuzzRecordBatch FuzzJSON)
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    --scratch-path .build-fuzz
mkdir -p artifacts
for fuzzer in "${fuzzers[@]}"; do
    mkdir -p "corpus/$fuzzer"
    ./.build-fuzz/debug/"$fuzzer" -max_total_time="$seconds" -max_len=65536 -artifact_prefix=artifacts/ \
        "corpus/$fuzzer" seeds/"$fuzzer"
done
