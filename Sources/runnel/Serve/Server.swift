import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import RunnelBroker
import RunnelBrokerAPI
import RunnelConnect
import RunnelConnectors
import RunnelConsole
import RunnelHTTP
import RunnelLog
import RunnelRestProxy
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The services of `runnel serve`, built from its configuration (the composition root): the embedded broker, the
/// REST proxy, the connect worker, the console, both listeners, in one `ServiceGroup` that stops them in reverse
/// order.
struct Server {
    let configuration: ServeConfiguration
    let broker: EmbeddedBroker
    let group: ServiceGroup
    let logger: Logger

    static func open(
        _ configuration: ServeConfiguration,
        descriptors: DescriptorBudget,
        loggerLevels: LoggerLevels,
        logLines: LogLines?,
        metricsRegistry: PrometheusCollectorRegistry,
        logger: Logger
    ) async throws -> Server {
        let dataDir = configuration.dataDirectory
        let host = configuration.host
        let maxRequestBytes = configuration.maxRequestBytes
        let authRequired = configuration.authRequired

        // Settings: the file's broker keys, then the proxy's keys; anything neither knows is reported.
        let properties = configuration.properties
        var brokerConfig = try BrokerConfig(properties: properties)
        var proxyConfiguration = RestProxyConfiguration()
        proxyConfiguration.maxRequestBytes = maxRequestBytes
        proxyConfiguration.scheme = configuration.scheme
        let proxyKeys = try proxyConfiguration.apply(properties: properties)
        var workerConfiguration = WorkerConfiguration(dataDirectory: dataDir)
        workerConfiguration.fileRoots =
            configuration.connectorFileRoots.isEmpty ? nil : configuration.connectorFileRoots
        workerConfiguration.reservedFiles = configuration.reservedFiles
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
        brokerConfiguration.advertisedPort = configuration.proxyPort
        brokerConfiguration.descriptors = descriptors
        brokerConfiguration.maxThrottleMs = configuration.maxThrottleMs
        brokerConfiguration.fetchMemoryBytes = configuration.maxFetchMemoryBytes
        let authMode = configuration.authMode
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

        let logTopic = configuration.logTopic
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
                assetDirectory: configuration.assetDirectory
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
                allowedHosts: configuration.allowedHosts
            ),
            authentication: authRequired
                ? AuthenticationMiddleware(
                    keys: broker.apiKeys,
                    openPaths: configuration.openMetrics ? ["/metrics"] : [],
                    errorCode: { $0 == "/connect" || $0.hasPrefix("/connect/") ? 401 : 40101 }
                ) : nil
        )
        let listening = Listening(
            logger: logger,
            dataDirectory: dataDir,
            clusterId: broker.clusterId,
            scheme: proxyConfiguration.scheme,
            auth: authRequired ? "required" : "off (anyone who reaches the ports may do anything)",
            encryption: configuration.encryption.rawValue,
            descriptors: descriptors
        )
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ParserErrorResponder()],
            idleTimeout: .milliseconds(configuration.idleTimeoutMs)
        )
        let server = HTTPServerBuilder.runnel(
            http,
            limits: ConnectionLimits(
                maxConnections: configuration.maxConnections,
                maxConnectionsPerIP: configuration.maxConnectionsPerIP,
                descriptors: descriptors
            ),
            tls: configuration.tlsFiles,
            plaintextFromLoopback: configuration.encryption == .tlsPlaintext
        )
        let reloader = configuration.tlsFiles.map { [CertificateReloader(files: $0, logger: logger)] } ?? []
        let proxyApp = Application(
            router: surface.proxyRouter,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: configuration.proxyPort),
                serverName: nil
            ),
            onServerRunning: { listening.started("proxy", $0) },
            logger: logger
        )
        let connectApp = Application(
            router: surface.connectRouter,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: configuration.connectPort),
                serverName: nil
            ),
            onServerRunning: { channel in
                listening.started("connect", channel)
                if let address = channel.localAddress {
                    await worker.setWorkerId(
                        "\(address.ipAddress ?? host):\(address.port ?? configuration.connectPort)"
                    )
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
        return Server(configuration: configuration, broker: broker, group: group, logger: logger)
    }

    /// Runs every service until SIGINT or SIGTERM, then closes the broker.
    func run() async throws {
        let host = configuration.host
        do {
            try await group.run()
        } catch {
            try? await broker.close()
            if let error = error as? IOError, error.errnoCode == EADDRINUSE {
                throw ServeError(
                    "Cannot listen on \(host) port \(configuration.proxyPort) or \(configuration.connectPort): the address is already in use (another runnel serve?). Choose others with --proxy-port and --connect-port."
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
