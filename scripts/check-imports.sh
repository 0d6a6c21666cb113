#!/usr/bin/env bash
# Keeps the module dependency arrows one-way (docs/ARCHITECTURE.md): the log engine knows files, not HTTP,
# SQL or command lines; the broker core knows logs and its catalog, not HTTP, command lines or the front ends; the
# shared HTTP edge knows no Kafka; the front ends know the broker only through its protocol and not each other.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
forbid() {
    local module=$1
    shift
    for library in "$@"; do
        if grep -rnE "^(@testable |public |package |internal )?import $library\b" "Sources/$module" 2>/dev/null; then
            echo "error: Sources/$module must not import $library" >&2
            status=1
        fi
    done
}

forbid RunnelLog Hummingbird HummingbirdCore GRDB ArgumentParser AsyncHTTPClient Prometheus RunnelBroker
forbid RunnelBroker Hummingbird HummingbirdCore ArgumentParser AsyncHTTPClient Prometheus RunnelHTTP RunnelRestProxy RunnelConnect
forbid RunnelHTTP RunnelLog RunnelBroker RunnelRestProxy RunnelConnect GRDB ArgumentParser
forbid RunnelRestProxy RunnelConnect GRDB ArgumentParser
forbid RunnelConnect RunnelRestProxy RunnelConnectors ArgumentParser
# Connector plugins are written against the connect SPI: no HTTP, no other front end, no command line.
forbid RunnelConnectors Hummingbird HummingbirdCore RunnelHTTP RunnelRestProxy ArgumentParser
# The console reads the broker and the worker through their APIs; it serves no other module.
forbid RunnelConsole RunnelRestProxy RunnelConnectors ArgumentParser
# The front ends use the `Broker` seam, never the embedded broker itself (they must work against a Kafka cluster too).
for module in RunnelRestProxy RunnelConnect RunnelConnectors RunnelConsole; do
    if grep -rn "EmbeddedBroker" "Sources/$module"; then
        echo "error: Sources/$module must use the Broker protocol, not EmbeddedBroker" >&2
        status=1
    fi
done
exit $status
