import Foundation
import Logging
import Prometheus
import RunnelBroker
import RunnelBrokerAPI
import RunnelConnect
import RunnelConsole
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy
import RunnelTestSupport
import Testing

@testable import runnel

/// openapi.yaml stays true: every route either listener answers is in it, and it documents no route that is not.
@Suite struct OpenAPITests {
    /// The operations of openapi.yaml's `paths` as "METHOD /path" (its paths are keys two spaces in, methods four; a
    /// path whose item is a `$ref` to another path has that path's methods).
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: packageRoot + "/openapi.yaml", encoding: .utf8)
        var methodsOfPath: [String: Set<String>] = [:]
        var references: [String: String] = [:]
        var inPaths = false
        var path: String?
        let methods: Set<String> = ["get", "post", "put", "patch", "delete", "head", "options"]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty {
                inPaths = line.hasPrefix("paths:")
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            } else if line.hasPrefix("    ") && !line.hasPrefix("     "), let path {
                let key = line.dropFirst(4).prefix { $0 != ":" }
                if methods.contains(String(key)) { methodsOfPath[path, default: []].insert(key.uppercased()) }
                if key == "$ref" {
                    let pointer = line.split(separator: "'").dropFirst().first ?? ""
                    references[path] = String(pointer.dropFirst("#/paths/".count))
                        .replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                }
            }
        }
        for (path, target) in references { methodsOfPath[path] = methodsOfPath[target] ?? [] }
        return Set(methodsOfPath.flatMap { path, methods in methods.map { "\($0) \(path)" } })
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let directory = TemporaryDirectory("openapi")
        let broker = try await EmbeddedBroker.open(
            EmbeddedBroker.Configuration(dataDirectory: directory.path),
            logger: quietLogger
        )
        let worker = try await ConnectWorker.open(
            broker: broker,
            registry: PluginRegistry(connectors: []),
            configuration: WorkerConfiguration(dataDirectory: directory.path),
            logger: quietLogger
        )
        let connect = ConnectAPI(
            broker: broker,
            worker: worker,
            loggers: LoggerLevels(root: .info, loggers: []),
            version: "test",
            commit: "test"
        )
        let surface = HTTPSurface(
            proxy: RestProxy(broker: broker, logger: quietLogger),
            connect: connect,
            metrics: MetricsEndpoint(registry: PrometheusCollectorRegistry(), broker: broker, worker: worker),
            dashboard: Dashboard(
                broker: broker,
                worker: worker,
                sampler: TrafficSampler(broker: broker, totals: BrokerTraffic.totals),
                started: Date(),
                version: "test"
            ),
            quotas: QuotaRoutes(quotas: broker.quotas, access: broker, maxRequestBytes: 1024),
            apiKeys: APIKeyRoutes(keys: broker.apiKeys, access: broker, authorizer: nil, maxRequestBytes: 1024),
            access: broker,
            openAPIDocument: []
        )
        let served = Set((surface.proxyRoutes + surface.connectRoutes).map { "\($0.method) \($0.path)" })
        let documented = try Self.documentedOperations()
        #expect(served.count > 50)
        #expect(served.subtracting(documented).sorted() == [], "served but not in openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "in openapi.yaml but not served")
        try await broker.close()
    }
}

extension OpenAPITests {
    /// schemathesis generates requests for every operation of openapi.yaml against a live server, valid and not: no
    /// answer may be a 5xx, and every answer must match the spec's status codes, content types and schemas.
    @Test func liveServerConformsToTheSpecUnderFuzzing() async throws {
        let output = try await runProcess(
            try pythonInterpreter(),
            [pythonScript("fuzz_api.py"), runnelPath, packageRoot + "/openapi.yaml", "20"]
        )
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
    }

    /// The same with authentication required, as a super user: the security layer adds no 5xx and no answer
    /// outside the spec.
    @Test func liveServerWithAuthenticationConformsToTheSpecUnderFuzzing() async throws {
        let output = try await runProcess(
            try pythonInterpreter(),
            [pythonScript("fuzz_api.py"), runnelPath, packageRoot + "/openapi.yaml", "20", "--auth"]
        )
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
    }
}
