import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import RunnelBroker
import RunnelBrokerAPI
import RunnelConnect
import RunnelConnectors
import RunnelConsole
import RunnelHTTP
import RunnelJSON
import RunnelLog
import RunnelRecords
import RunnelRestProxy
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `runnel serve`: the broker core, the REST proxy and the connect worker in one process: the composition root.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Runnel: the broker, the REST proxy (Confluent v2 and v3) and the Kafka Connect worker.",
        discussion: """
            Every option can also be set with an environment variable: RUNNEL_DATA_DIR, RUNNEL_HOST, \
            RUNNEL_PROXY_PORT, RUNNEL_CONNECT_PORT, RUNNEL_CONFIG, RUNNEL_MAX_REQUEST_BYTES, RUNNEL_IDLE_TIMEOUT_MS, \
            RUNNEL_LOG_LEVEL (a flag wins over its variable). --config reads a Kafka server.properties-style file: \
            broker keys (log.retention.hours, num.partitions, message.max.bytes, ...) and the REST proxy's keys \
            (consumer.instance.timeout.ms, consumer.request.timeout.ms, consumer.request.max.bytes, \
            fetch.min.bytes, id), and the connect worker's (key.converter, value.converter and their settings, \
            offset.flush.interval.ms). Connectors are created over Kafka Connect's REST API on the connect port; \
            their state is kept in connect.db in the data directory. SIGINT or SIGTERM shuts down gracefully.
            """
    )

    @Option(name: .long, help: "Data directory (RUNNEL_DATA_DIR; default ./runnel-data).")
    var dataDir: String?

    @Option(name: .long, help: "Address to listen on (RUNNEL_HOST; default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "REST proxy port (RUNNEL_PROXY_PORT; default 8082; 0 picks a free port).")
    var proxyPort: Int?

    @Option(name: .long, help: "Kafka Connect REST port (RUNNEL_CONNECT_PORT; default 8083; 0 picks a free port).")
    var connectPort: Int?

    @Option(name: .long, help: "A server.properties-style file of broker, proxy and worker settings (RUNNEL_CONFIG).")
    var config: String?

    @Option(name: .long, help: "Largest request body accepted, in bytes (RUNNEL_MAX_REQUEST_BYTES; default 16 MiB).")
    var maxRequestBytes: Int?

    @Option(
        name: .long,
        help: "Close a connection idle this long, in milliseconds (RUNNEL_IDLE_TIMEOUT_MS; default 60000)."
    )
    var idleTimeoutMs: Int64?

    @Option(
        name: .long,
        help: "Log level: trace, debug, info, notice, warning, error (RUNNEL_LOG_LEVEL; default info)."
    )
    var logLevel: String?

    @Option(
        name: .long,
        help: "Log lines as text, or as json (one object per line, for log shippers) (RUNNEL_LOG_FORMAT; default text)."
    )
    var logFormat: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also append the server's log lines (as JSON objects) to this topic, created if missing; a sink connector can ship them to a bucket (RUNNEL_LOG_TOPIC; default: off).",
            valueName: "topic"
        )
    )
    var logTopic: String?

    @Option(
        name: .long,
        help:
            "The longest a byte-rate quota delays an answer, in milliseconds; a request that would wait longer is refused with 429 (RUNNEL_MAX_THROTTLE_MS; default 30000)."
    )
    var maxThrottleMs: Int64?

    @Option(
        name: .long,
        help:
            "Bytes of fetched records all readers together may hold until their answers are sent (REST reads, connectors); a read that cannot get its share within 10 s is refused with 429 (RUNNEL_MAX_FETCH_MEMORY_BYTES; default 268435456). One read returns at most fetch.max.bytes (--config; default 57671680)."
    )
    var maxFetchMemoryBytes: Int?

    @Option(
        name: .long,
        help:
            "Connections held at once over both ports; more are answered 503 and closed (RUNNEL_MAX_CONNECTIONS; default 10000)."
    )
    var maxConnections: Int?

    @Option(
        name: .long,
        help:
            "Connections held at once from one client address (RUNNEL_MAX_CONNECTIONS_PER_IP; default: no limit but --max-connections)."
    )
    var maxConnectionsPerIp: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Whether callers must authenticate with an API key: auto (required unless --host is a loopback address), required, or off (RUNNEL_AUTH; default auto).",
            valueName: "mode"
        )
    )
    var auth: AuthMode?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Host names (comma-separated) a browser may use for this server besides loopback addresses, when it listens on loopback: the Host header of every request must name one (RUNNEL_ALLOWED_HOSTS; default none).",
            valueName: "names"
        )
    )
    var allowedHosts: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Folders (comma-separated) connectors may read and write on this server: the file connectors' files, SQLite databases, local buckets (RUNNEL_CONNECTOR_FILE_ROOTS; default the data directory). The server's own files are never allowed.",
            valueName: "folders"
        )
    )
    var connectorFileRoots: String?

    @Flag(
        name: .long,
        help: "Serve /metrics without authentication, for a scraper on a trusted network (RUNNEL_OPEN_METRICS=true)."
    )
    var openMetrics = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PEM file of the server's certificate (and its chain) for TLS on both listeners (RUNNEL_TLS_CERT). SIGHUP reads it and the key again.",
            valueName: "file"
        )
    )
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM file of its private key (RUNNEL_TLS_KEY).", valueName: "file"))
    var tlsKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PEM file of the CA that client certificates must be signed by: mutual TLS (RUNNEL_TLS_CLIENT_CA).",
            valueName: "file"
        )
    )
    var tlsClientCa: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "TLS (TLS only), TLS_PLAINTEXT (TLS, and plaintext from this machine's loopback addresses on the same ports) or PLAINTEXT (RUNNEL_CLIENT_ENCRYPTION; default TLS with --tls-cert, else PLAINTEXT).",
            valueName: "mode"
        )
    )
    var clientEncryption: ClientEncryption?

    func run() async throws {
        // A file-size limit (ulimit -f) makes a too-large write fail with EFBIG, answered as a storage error, instead
        // of killing the process.
        signal(SIGXFSZ, SIG_IGN)
        // Every descriptor the limit allows, shared out so the process never runs out (DescriptorBudget).
        let openFiles = DescriptorBudget.raiseProcessLimit()
        let descriptors = DescriptorBudget(limit: openFiles.limit, inUse: openFiles.inUse)
        let configuration = try ServeConfiguration(self)

        // Levels can change at runtime through the connect port's /admin/loggers.
        let loggerLevels = LoggerLevels(root: configuration.logLevel, loggers: ["runnel", "runnel.connect"])
        let logLines = configuration.logTopic.isEmpty ? nil : LogLines()
        LoggingSystem.bootstrap { label in
            var base: any LogHandler =
                configuration.logFormat == .json
                ? JSONLogHandler(label: label)
                : EscapingLogHandler(base: StreamLogHandler.standardError(label: label))
            if let logLines { base = MultiplexLogHandler([base, logLines.handler(label: label)]) }
            return LevelledLogHandler(base: base, label: label, levels: loggerLevels)
        }
        // Counters and timers recorded through swift-metrics land in this registry, served at GET /metrics.
        let metricsRegistry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(RunnelMetricsFactory(registry: metricsRegistry))

        let server = try await Server.open(
            configuration,
            descriptors: descriptors,
            loggerLevels: loggerLevels,
            logLines: logLines,
            metricsRegistry: metricsRegistry,
            logger: Logger(label: "runnel")
        )
        try await server.run()
    }
}

/// A log handler whose level follows ``LoggerLevels`` (so `/admin/loggers` changes it at runtime).
struct LevelledLogHandler: LogHandler {
    var base: any LogHandler
    let label: String
    let levels: LoggerLevels

    var logLevel: Logger.Level {
        get { levels.level(for: label) }
        set {}
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        base.log(event: event)
    }
}
