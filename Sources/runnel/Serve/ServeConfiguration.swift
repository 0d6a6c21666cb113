import ArgumentParser
import Foundation
import Logging
import RunnelBroker

/// Every setting of `runnel serve`, resolved once: a flag wins over its `RUNNEL_*` variable, which wins over the
/// default. A setting is named once, by its flag: `--data-dir` is read from `RUNNEL_DATA_DIR` when the flag is
/// absent. Broker, proxy and worker keys come from the `--config` file (``properties``).
struct ServeConfiguration: Sendable {
    var dataDirectory: String
    var host: String
    var proxyPort: Int
    var connectPort: Int
    var maxRequestBytes: Int
    var idleTimeoutMs: Int64
    var logLevel: Logger.Level
    var logFormat: LogFormat
    /// Empty: no log topic.
    var logTopic: String
    var maxThrottleMs: Int64
    var maxFetchMemoryBytes: Int
    var maxConnections: Int
    var maxConnectionsPerIP: Int
    var authMode: AuthMode
    var allowedHosts: [String]
    /// Empty: the data directory.
    var connectorFileRoots: [String]
    var openMetrics: Bool
    var tlsFiles: TLSFiles?
    var encryption: ClientEncryption
    /// The `--config` file's keys (empty without one).
    var properties: [String: String]
    /// The dashboard's files from a folder instead of the binary (RUNNEL_UI_DIR, for working on the page).
    var assetDirectory: String?

    enum LogFormat: String, Sendable {
        case text, json
    }

    var authRequired: Bool { authMode.isRequired(host: host) }
    var scheme: String { tlsFiles == nil ? "http" : "https" }
    /// The server's own files a connector may never touch.
    var reservedFiles: [String] {
        [tlsFiles?.certificatePath, tlsFiles?.keyPath, tlsFiles?.clientCAPath].compactMap { $0 }
    }

    /// Resolves the command line's options against `environment`, and reads the `--config` file.
    init(_ options: Serve, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let resolve = Resolver(environment: environment)
        dataDirectory = try resolve(options.dataDir, "data-dir", "./runnel-data")
        host = try resolve(options.host, "host", "127.0.0.1")
        proxyPort = try resolve(options.proxyPort, "proxy-port", 8082)
        connectPort = try resolve(options.connectPort, "connect-port", 8083)
        for (name, port) in [("proxy", proxyPort), ("connect", connectPort)] where !(0...65_535).contains(port) {
            throw ValidationError("The \(name) port must be between 0 and 65535, not \(port)")
        }
        maxRequestBytes = try resolve(options.maxRequestBytes, "max-request-bytes", 16 * 1024 * 1024)
        guard maxRequestBytes > 0 else { throw ValidationError("--max-request-bytes must be positive") }
        idleTimeoutMs = try resolve(options.idleTimeoutMs, "idle-timeout-ms", Int64(60_000))
        let levelName = try resolve(options.logLevel, "log-level", "info")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ValidationError("Unknown log level \(levelName)")
        }
        logLevel = level
        let formatName = try resolve(options.logFormat, "log-format", "text")
        guard let format = LogFormat(rawValue: formatName.lowercased()) else {
            throw ValidationError("Unknown log format \(formatName): use text or json")
        }
        logFormat = format
        logTopic = try resolve(options.logTopic, "log-topic", "")
        maxThrottleMs = try resolve(options.maxThrottleMs, "max-throttle-ms", Int64(30_000))
        maxFetchMemoryBytes = try resolve(options.maxFetchMemoryBytes, "max-fetch-memory-bytes", 256 << 20)
        guard maxFetchMemoryBytes >= 1 << 20 else {
            throw ValidationError("--max-fetch-memory-bytes must be at least 1 MiB (1048576)")
        }
        maxConnections = try resolve(options.maxConnections, "max-connections", 10_000)
        maxConnectionsPerIP = try resolve(options.maxConnectionsPerIp, "max-connections-per-ip", Int.max)
        guard maxConnections > 0, maxConnectionsPerIP > 0 else {
            throw ValidationError("--max-connections and --max-connections-per-ip must be positive")
        }
        authMode = try resolve(options.auth, "auth", .auto)
        allowedHosts = try resolve.list(options.allowedHosts, "allowed-hosts")
        connectorFileRoots = try resolve.list(options.connectorFileRoots, "connector-file-roots")
        openMetrics = try options.openMetrics || resolve(Bool?.none, "open-metrics", false)

        let tlsCert = try resolve(options.tlsCert, "tls-cert", "")
        let tlsKey = try resolve(options.tlsKey, "tls-key", "")
        let tlsClientCA = try resolve(options.tlsClientCa, "tls-client-ca", "")
        encryption = try resolve(options.clientEncryption, "client-encryption", tlsCert.isEmpty ? .plaintext : .tls)
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

        let configPath = try resolve(options.config, "config", "")
        properties = [:]
        if !configPath.isEmpty {
            let text: String
            do {
                text = try String(contentsOfFile: configPath, encoding: .utf8)
            } catch {
                throw ValidationError("Cannot read the config file \(configPath): \(error.localizedDescription)")
            }
            properties = try BrokerConfig.parseProperties(text)
        }
        assetDirectory = environment["RUNNEL_UI_DIR"]
    }

    /// The variable a flag is read from when it is absent: `--data-dir` → `RUNNEL_DATA_DIR`.
    static func variable(forFlag flag: String) -> String {
        "RUNNEL_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Reads one setting: the flag's value, else its variable's, else the default.
    private struct Resolver {
        let environment: [String: String]

        func callAsFunction<T: LosslessStringConvertible>(_ flag: T?, _ name: String, _ fallback: T) throws -> T {
            if let flag { return flag }
            let variable = ServeConfiguration.variable(forFlag: name)
            if let text = environment[variable], !text.isEmpty {
                guard let value = T(text) else { throw ValidationError("\(variable)=\(text) is not a valid value") }
                return value
            }
            return fallback
        }

        /// A comma-separated setting's items.
        func list(_ flag: String?, _ name: String) throws -> [String] {
            try self(flag, name, "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
        }
    }
}
