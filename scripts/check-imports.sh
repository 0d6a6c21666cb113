#!/usr/bin/env bash
# Keeps the module dependency arrows one-way (docs/ARCHITECTURE.md). Kafka's record format knows bytes only; the broker
# seam knows the record format; the log engine knows files and the record format, never the seam; the embedded broker
# implements the seam over the log; the shared HTTP edge knows no Kafka; the front ends know the broker only through
# the seam — never the embedded broker or the log engine, which a Kafka-cluster backend does not link — and not each
# other.
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

engine="RunnelLog RunnelBroker HummingbirdBcrypt"
frontEnds="RunnelRestProxy RunnelConnect RunnelConnectors RunnelConsole"
forbid RunnelRecords RunnelLog RunnelBrokerAPI RunnelBroker Logging NIOPosix Hummingbird GRDB ArgumentParser
forbid RunnelBrokerAPI $engine GRDB RunnelHTTP Hummingbird HummingbirdCore NIOPosix ArgumentParser AsyncHTTPClient Prometheus
forbid RunnelLog RunnelBrokerAPI RunnelBroker Hummingbird HummingbirdCore GRDB ArgumentParser AsyncHTTPClient Prometheus
forbid RunnelBroker Hummingbird HummingbirdCore ArgumentParser AsyncHTTPClient Prometheus RunnelHTTP $frontEnds
forbid RunnelJSON RunnelRecords RunnelBrokerAPI RunnelHTTP Hummingbird HummingbirdCore HTTPTypes Logging NIOPosix $engine $frontEnds ArgumentParser
forbid RunnelHTTP RunnelRecords RunnelBrokerAPI $engine $frontEnds ArgumentParser
forbid RunnelRestProxy $engine RunnelConnect RunnelConnectors RunnelConsole ArgumentParser
forbid RunnelConnect $engine RunnelRestProxy RunnelConnectors RunnelConsole ArgumentParser
# The worker's runtime, data, converters, transforms and store use JSON, not HTTP (only its API/ does).
for part in Runtime Data Converters Transforms Storage; do
    forbid "RunnelConnect/$part" RunnelHTTP Hummingbird HummingbirdCore HTTPTypes
done
# The CLI reaches servers with async-http-client and JSON, not the server's HTTP edge.
forbid runnel/Client RunnelHTTP Hummingbird HummingbirdCore
# Connector plugins are written against the connect SPI: no HTTP, no other front end, no command line.
forbid RunnelConnectors $engine Hummingbird HummingbirdCore RunnelHTTP RunnelRestProxy RunnelConsole ArgumentParser
# The console reads the broker and the worker through their APIs; it serves no other module.
forbid RunnelConsole $engine RunnelRestProxy RunnelConnectors ArgumentParser

# The same, for what the package manifest lets each target link: a front end that depended on the engine could
# reach it without an import line in Sources.
manifest_dependencies() { # target → its dependencies' names, one per line
    awk -v target="$1" '
        $0 ~ "name: \"" target "\",$" && !done { inside = 1; next }
        inside && /^            \],/ { inside = 0; done = 1 }
        inside { while (match($0, /"[A-Za-z0-9]+"/)) { print substr($0, RSTART + 1, RLENGTH - 2); $0 = substr($0, RSTART + RLENGTH) } }
    ' Package.swift | grep -v '^dependencies$'
}
for module in $frontEnds; do
    for library in $engine; do
        if manifest_dependencies "$module" | grep -qx "$library"; then
            echo "error: the $module target must not depend on $library (Package.swift)" >&2
            status=1
        fi
    done
done
# The front ends use the `Broker` seam, never the embedded broker itself (they must work against a Kafka cluster too).
for module in $frontEnds; do
    if grep -rn "EmbeddedBroker" "Sources/$module"; then
        echo "error: Sources/$module must use the Broker protocol, not EmbeddedBroker" >&2
        status=1
    fi
done
exit $status
