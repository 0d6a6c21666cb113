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

    private static func setting<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ fallback: T) throws -> T
    {
        if let flag { return flag }
        if let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty {
            guard let value = T(text) else { throw ValidationError("\(variable)=\(text) is not a valid value") }
            return value
        }
        return fallback
    }

    /// A comma-separated setting's items.
    private static func list(_ flag: String?, _ variable: String) throws -> [String] {
        try setting(flag, variable, "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    func run() async throws {
        // A file-size limit (ulimit -f) makes a too-large write fail with EFBIG, answered as a storage error, instead
        // of killing the process.
        signal(SIGXFSZ, SIG_IGN)
        // Every descriptor the limit allows, shared out so the process never runs out (DescriptorBudget).
        let openFiles = DescriptorBudget.raiseProcessLimit()
        let descriptors = DescriptorBudget(limit: openFiles.limit, inUse: openFiles.inUse)
        let dataDir = try Self.setting(dataDir, "RUNNEL_DATA_DIR", "./runnel-data")
        let host = try Self.setting(host, "RUNNEL_HOST", "127.0.0.1")
        let proxyPort = try Self.setting(proxyPort, "RUNNEL_PROXY_PORT", 8082)
        let connectPort = try Self.setting(connectPort, "RUNNEL_CONNECT_PORT", 8083)
        let configPath = try Self.setting(config, "RUNNEL_CONFIG", "")
        let maxRequestBytes = try Self.setting(maxRequestBytes, "RUNNEL_MAX_REQUEST_BYTES", 16 * 1024 * 1024)
        let idleTimeoutMs = try Self.setting(idleTimeoutMs, "RUNNEL_IDLE_TIMEOUT_MS", Int64(60_000))
        let levelName = try Self.setting(logLevel, "RUNNEL_LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ValidationError("Unknown log level \(levelName)")
        }
        let format = try Self.setting(logFormat, "RUNNEL_LOG_FORMAT", "text").lowercased()
        guard format == "text" || format == "json" else {
            throw ValidationError("Unknown log format \(format): use text or json")
        }
        for (name, port) in [("proxy", proxyPort), ("connect", connectPort)] where !(0...65_535).contains(port) {
            throw ValidationError("The \(name) port must be between 0 and 65535, not \(port)")
        }
        guard maxRequestBytes > 0 else { throw ValidationError("--max-request-bytes must be positive") }
        let maxConnections = try Self.setting(maxConnections, "RUNNEL_MAX_CONNECTIONS", 10_000)
        let maxConnectionsPerIP = try Self.setting(maxConnectionsPerIp, "RUNNEL_MAX_CONNECTIONS_PER_IP", Int.max)
        guard maxConnections > 0, maxConnectionsPerIP > 0 else {
            throw ValidationError("--max-connections and --max-connections-per-ip must be positive")
        }
        let authMode = try Self.setting(auth, "RUNNEL_AUTH", .auto)
        let authRequired = authMode.isRequired(host: host)
        let openMetrics = try openMetrics || Self.setting(Bool?.none, "RUNNEL_OPEN_METRICS", false)
        let tlsCert = try Self.setting(tlsCert, "RUNNEL_TLS_CERT", "")
        let tlsKey = try Self.setting(tlsKey, "RUNNEL_TLS_KEY", "")
        let tlsClientCA = try Self.setting(tlsClientCa, "RUNNEL_TLS_CLIENT_CA", "")
        let encryption = try Self.setting(
            clientEncryption,
            "RUNNEL_CLIENT_ENCRYPTION",
            tlsCert.isEmpty ? .plaintext : .tls
        )
        var tlsFiles: TLSFiles?
        if encryption != .plaintext {
            guard !tlsCert.isEmpty, !tlsKey.isEmpty else {
                throw ValidationError("--client-encryption \(encryption) needs --tls-cert and --tls-key")
            }
            tlsFiles = try TLSFiles(
                certificatePath: tlsCert,
                keyPath: tlsKey,
                clientCAPath: tlsClientCA.isEmpty ? nil : tlsClientCA
            )
        } else if !tlsCert.isEmpty || !tlsClientCA.isEmpty {
            throw ValidationError("--tls-cert and --tls-client-ca need --client-encryption TLS or TLS_PLAINTEXT")
        }

        // Levels can change at runtime through the connect port's /admin/loggers.
        let loggerLevels = LoggerLevels(root: level, loggers: ["runnel", "runnel.connect"])
        let logTopic = try Self.setting(logTopic, "RUNNEL_LOG_TOPIC", "")
        let logLines = logTopic.isEmpty ? nil : LogLines()
        LoggingSystem.bootstrap { label in
            var base: any LogHandler =
                format == "json"
                ? JSONLogHandler(label: label)
                : EscapingLogHandler(base: StreamLogHandler.standardError(label: label))
            if let logLines { base = MultiplexLogHandler([base, logLines.handler(label: label)]) }
            return LevelledLogHandler(base: base, label: label, levels: loggerLevels)
        }
        let logger = Logger(label: "runnel")
        // Counters and timers recorded through swift-metrics land in this registry, served at GET /metrics.
        let metricsRegistry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(RunnelMetricsFactory(registry: metricsRegistry))

        // Settings: the file's broker keys, then the proxy's keys; anything neither knows is reported.
        var properties: [String: String] = [:]
        if !configPath.isEmpty {
            let text: String
            do {
                text = try String(contentsOfFile: configPath, encoding: .utf8)
            } catch {
                throw ValidationError("Cannot read the config file \(configPath): \(error.localizedDescription)")
            }
            properties = try BrokerConfig.parseProperties(text)
        }
        var brokerConfig = try BrokerConfig(properties: properties)
        var proxyConfiguration = RestProxyConfiguration()
        proxyConfiguration.maxRequestBytes = maxRequestBytes
        proxyConfiguration.scheme = tlsFiles == nil ? "http" : "https"
        let proxyKeys = try proxyConfiguration.apply(properties: properties)
        var workerConfiguration = WorkerConfiguration(dataDirectory: dataDir)
        let fileRoots = try Self.list(connectorFileRoots, "RUNNEL_CONNECTOR_FILE_ROOTS")
        workerConfiguration.fileRoots = fileRoots.isEmpty ? nil : fileRoots
        workerConfiguration.reservedFiles = [tlsCert, tlsKey, tlsClientCA].filter { !$0.isEmpty }
        let workerKeys: Set<String>
        do {
            workerKeys = try workerConfiguration.apply(properties: properties)
        } catch {
            throw ValidationError(error.message)
        }
        let unknown = brokerConfig.ignoredKeys.filter { !proxyKeys.contains($0) && !workerKeys.contains($0) }.sorted()
        if !unknown.isEmpty {
            logger.warning("Ignoring unknown settings", metadata: ["keys": "\(unknown.joined(separator: ", "))"])
        }
        brokerConfig.ignoredKeys = []

        var brokerConfiguration = EmbeddedBroker.Configuration(dataDirectory: dataDir)
        brokerConfiguration.config = brokerConfig
        brokerConfiguration.advertisedHost = host
        brokerConfiguration.advertisedPort = proxyPort
        brokerConfiguration.descriptors = descriptors
        brokerConfiguration.maxThrottleMs = try Self.setting(maxThrottleMs, "RUNNEL_MAX_THROTTLE_MS", Int64(30_000))
        brokerConfiguration.fetchMemoryBytes = try Self.setting(
            maxFetchMemoryBytes,
            "RUNNEL_MAX_FETCH_MEMORY_BYTES",
            256 << 20
        )
        guard brokerConfiguration.fetchMemoryBytes >= 1 << 20 else {
            throw ValidationError("--max-fetch-memory-bytes must be at least 1 MiB (1048576)")
        }
        let noKeys = ServeError(
            """
            Authentication is required (\(authMode == .required ? "--auth required" : "--host \(host) is not a loopback address")) \
            but there is no API key to authenticate with. Create the first one, then start again:
              runnel api-key create --data-dir \(dataDir) --super-user --description admin
            (or run with --auth off to serve without authentication: anyone who reaches the port could then read, \
            write and delete everything).
            """
        )
        // Refused before anything is written when the data directory has no catalog (so no key) yet.
        if authRequired && !FileManager.default.fileExists(atPath: dataDir + "/metadata.db") { throw noKeys }
        let broker = try await EmbeddedBroker.open(brokerConfiguration, logger: logger)
        if authRequired, (try? await broker.apiKeys.list().isEmpty) ?? true {
            try? await broker.close()
            throw noKeys
        }
        if !authRequired && !AuthMode.isLoopback(host) {
            logger.warning(
                "Authentication is off on a non-loopback address: anyone who reaches these ports can read, write and delete everything",
                metadata: ["host": "\(host)"]
            )
        }
        // What the front ends use: produce and fetch within the callers' quotas, and with authentication every
        // operation checked against the caller's ACLs first.
        let throttled = ThrottlingBroker(wrapping: broker, quotas: broker.quotas)
        let access: any Broker =
            authRequired ? AuthorizingBroker(wrapping: throttled, authorizer: broker.authorizer) : throttled

        var logPublisher: [LogTopicPublisher] = []
        if let logLines {
            let publisher = LogTopicPublisher(topic: logTopic, lines: logLines, broker: broker, logger: logger)
            do {
                try await publisher.prepare()
            } catch {
                try? await broker.close()
                throw ServeError("--log-topic \(logTopic): \(error.message)")
            }
            logPublisher.append(publisher)
        }

        let proxy = RestProxy(broker: access, configuration: proxyConfiguration, logger: logger)
        let worker: ConnectWorker
        do {
            worker = try await ConnectWorker.open(
                broker: access,
                registry: PluginRegistry(connectors: BuiltinConnectors.all),
                configuration: workerConfiguration,
                logger: Logger(label: "runnel.connect")
            )
        } catch {
            try? await broker.close()
            throw ServeError(error.message)
        }
        let connect = ConnectAPI(
            broker: access,
            worker: worker,
            loggers: loggerLevels,
            version: RunnelVersion.current,
            commit: RunnelVersion.commit,
            maxRequestBytes: maxRequestBytes
        )
        let metrics = MetricsEndpoint(registry: metricsRegistry, broker: broker, worker: worker)
        let sampler = TrafficSampler(broker: broker, totals: BrokerTraffic.totals)
        let surface = HTTPSurface(
            proxy: proxy,
            connect: connect,
            metrics: metrics,
            dashboard: Dashboard(
                broker: access,
                worker: worker,
                sampler: sampler,
                started: metrics.started,
                version: RunnelVersion.current,
                assetDirectory: ProcessInfo.processInfo.environment["RUNNEL_UI_DIR"]
            ),
            quotas: QuotaRoutes(quotas: broker.quotas, access: access, maxRequestBytes: maxRequestBytes),
            apiKeys: APIKeyRoutes(
                keys: broker.apiKeys,
                access: access,
                authorizer: authRequired ? broker.authorizer : nil,
                maxRequestBytes: maxRequestBytes
            ),
            access: access,
            browserGuard: BrowserGuard(
                scheme: proxyConfiguration.scheme,
                boundHost: host,
                allowedHosts: try Self.list(allowedHosts, "RUNNEL_ALLOWED_HOSTS")
            ),
            authentication: authRequired
                ? AuthenticationMiddleware(
                    keys: broker.apiKeys,
                    openPaths: openMetrics ? ["/metrics"] : [],
                    errorCode: { $0 == "/connect" || $0.hasPrefix("/connect/") ? 401 : 40101 }
                ) : nil
        )
        let listening = Listening(
            logger: logger,
            dataDirectory: dataDir,
            clusterId: broker.clusterId,
            scheme: proxyConfiguration.scheme,
            auth: authRequired ? "required" : "off (anyone who reaches the ports may do anything)",
            encryption: encryption.rawValue,
            descriptors: descriptors
        )
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ParserErrorResponder()],
            idleTimeout: .milliseconds(idleTimeoutMs)
        )
        let server = HTTPServerBuilder.runnel(
            http,
            limits: ConnectionLimits(
                maxConnections: maxConnections,
                maxConnectionsPerIP: maxConnectionsPerIP,
                descriptors: descriptors
            ),
            tls: tlsFiles,
            plaintextFromLoopback: encryption == .tlsPlaintext
        )
        let reloader = tlsFiles.map { [CertificateReloader(files: $0, logger: logger)] } ?? []
        let proxyApp = Application(
            router: surface.proxyRouter,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: proxyPort), serverName: nil),
            onServerRunning: { listening.started("proxy", $0) },
            logger: logger
        )
        let connectApp = Application(
            router: surface.connectRouter,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: connectPort), serverName: nil),
            onServerRunning: { channel in
                listening.started("connect", channel)
                if let address = channel.localAddress {
                    await worker.setWorkerId("\(address.ipAddress ?? host):\(address.port ?? connectPort)")
                }
            },
            logger: logger
        )
        // Shut down in reverse order: stop accepting and finish requests, then the connectors' tasks (committing
        // their offsets), then the proxy's consumers, then the broker.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: (broker.services + logPublisher + proxy.services + reloader
                    + [worker, sampler, proxyApp, connectApp])
                    .map {
                        ServiceGroupConfiguration.ServiceConfiguration(service: $0)
                    },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await broker.close()
            if let error = error as? IOError, error.errnoCode == EADDRINUSE {
                throw ServeError(
                    "Cannot listen on \(host) port \(proxyPort) or \(connectPort): the address is already in use (another runnel serve?). Choose others with --proxy-port and --connect-port."
                )
            }
            throw error
        }
        try await broker.close()
        logger.info("Runnel stopped")
    }
}

/// A start-up failure, said plainly.
struct ServeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Logs the one line saying where the server listens, once both listeners are up.
private final class Listening: Sendable {
    let logger: Logger
    let dataDirectory: String
    let clusterId: String
    let scheme: String
    let auth: String
    let encryption: String
    let descriptors: DescriptorBudget
    private let addresses = Mutex<[String: String]>([:])

    init(
        logger: Logger,
        dataDirectory: String,
        clusterId: String,
        scheme: String,
        auth: String,
        encryption: String,
        descriptors: DescriptorBudget
    ) {
        self.descriptors = descriptors
        self.logger = logger
        self.dataDirectory = dataDirectory
        self.clusterId = clusterId
        self.scheme = scheme
        self.auth = auth
        self.encryption = encryption
    }

    func started(_ name: String, _ channel: any Channel) {
        let address = channel.localAddress.map { "\(scheme)://\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let all = addresses.withLock { addresses -> [String: String]? in
            addresses[name] = address
            return addresses.count == 2 ? addresses : nil
        }
        guard let all else { return }
        logger.info(
            "Runnel is listening",
            metadata: [
                "proxy": "\(all["proxy"] ?? "?")",
                "connect": "\(all["connect"] ?? "?")",
                "dashboard": "\(all["proxy"] ?? "?")/ui",
                "data-dir": "\(dataDirectory)",
                "cluster-id": "\(clusterId)",
                "auth": "\(auth)",
                "encryption": "\(encryption)",
                "open-file-limit": "\(descriptors.limit)",
                "partitions-available": "\(descriptors.partitionsAvailable)",
            ]
        )
    }
}

/// Reads the TLS certificate and key again on SIGHUP, for the connections that come next.
private struct CertificateReloader: Service {
    let files: TLSFiles
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                // Reading files: off the cooperative pool.
                try await NIOThreadPool.singleton.runIfActive { try files.reload() }
                logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(files.certificatePath)"])
            } catch {
                logger.error(
                    "TLS certificate reload failed; the previous one stays in use",
                    metadata: ["error": "\(error)"]
                )
            }
        }
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
