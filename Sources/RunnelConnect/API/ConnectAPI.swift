import Foundation
import HTTPTypes
public import Hummingbird
public import RunnelBrokerAPI
public import RunnelHTTP
import RunnelJSON

/// The connect worker's REST API: Kafka Connect's paths, bodies, status codes and `{"error_code","message"}`
/// errors, over a ``ConnectWorker``.
public struct ConnectAPI: Sendable {
    let broker: any Broker
    let worker: ConnectWorker
    let loggers: LoggerLevels
    let version: String
    let commit: String
    /// Bodies larger than this are refused with 413.
    let maxRequestBytes: Int

    public init(
        broker: any Broker,
        worker: ConnectWorker,
        loggers: LoggerLevels,
        version: String,
        commit: String,
        maxRequestBytes: Int = 16 << 20
    ) {
        self.broker = broker
        self.worker = worker
        self.loggers = loggers
        self.version = version
        self.commit = commit
        self.maxRequestBytes = maxRequestBytes
    }

    /// Each route checks the caller's rights on what it touches (``require(_:connector:)``): the CONNECTOR resource
    /// of the connector it names, or, as before that resource existed, the cluster (DESCRIBE to read, ALTER to change:
    /// ALTER on the cluster manages ACLs anyway, so it implies every connector right). Connectors then run as the
    /// principal that configured them, under that principal's topic and group ACLs. The root, `/health` and the
    /// plugin list need only an authenticated caller; logger levels need DESCRIBE_CONFIGS / ALTER_CONFIGS on the
    /// cluster.
    public func addRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        // Kafka Connect's root: the worker's version and the Kafka cluster it works with.
        routes.get("/") { _, _ in
            let clusterId: String
            do throws(BrokerError) {
                clusterId = try await broker.describeCluster().clusterId
            } catch {
                throw ConnectAPI.apiError(error)
            }
            return .json(
                ["version": .string(version), "commit": .string(commit), "kafka_cluster_id": .string(clusterId)]
            )
        }
        routes.get("/health") { _, _ in
            .json([
                "status": "healthy", "message": "Worker has completed startup and is ready to handle requests.",
            ])
        }
        ConnectorController(broker: broker, worker: worker, maxRequestBytes: maxRequestBytes).register(on: routes)
        PluginController(broker: broker, worker: worker, version: version, maxRequestBytes: maxRequestBytes)
            .register(on: routes)
        LoggerController(broker: broker, loggers: loggers, maxRequestBytes: maxRequestBytes).register(on: routes)
    }

    /// A broker error as Kafka Connect answers it: the caller's missing rights are 403, anything else the worker's
    /// failure (500). The one place the connect API maps them.
    public static func apiError(_ error: BrokerError) -> APIError {
        apiError(WorkerError(error))
    }

    // MARK: Helpers

    /// A worker error as Kafka Connect answers it: the one place the connect API maps errors.
    static func apiError(_ error: WorkerError) -> APIError {
        switch error.code {
        case .notFound: APIError(.notFound, 404, error.message)
        case .alreadyExists, .conflict: APIError(.conflict, 409, error.message)
        case .badRequest: APIError(.badRequest, 400, error.message)
        case .forbidden: APIError(.forbidden, 403, error.message)
        default: APIError(.internalServerError, 500, error.message)
        }
    }

    static func connectorName<C: RequestContext>(_ context: C) throws -> String {
        guard let name = context.decodedParameter("connector") else { throw APIError.notFound("HTTP 404 Not Found") }
        return name
    }

    static func taskId<C: RequestContext>(_ context: C) throws -> Int {
        guard let text = context.parameters.get("task"), let id = Int(text), id >= 0 else {
            throw APIError.notFound("HTTP 404 Not Found")
        }
        return id
    }

    /// A boolean query parameter (absent: false).
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let value = request.uri.queryParameters.get(name) else { return false }
        switch value.lowercased() {
        case "true": return true
        case "false", "": return false
        default: throw APIError.badRequest("Query parameter \(name) must be true or false, not \(value)")
        }
    }

    /// A flat config map: string values; numbers and booleans as their text (as Jackson coerces them).
    static func configMap(_ value: JSONValue?, what: String = "Connector configuration") throws -> [String: String] {
        var config: [String: String] = [:]
        for (key, value) in try configPatch(value, what: what) {
            guard let value else { throw APIError.badRequest("\(what) value of \(key) must not be null") }
            config[key] = value
        }
        return config
    }

    /// A flat map whose null values mean "remove this key".
    static func configPatch(_ value: JSONValue?, what: String = "Connector configuration") throws -> [(String, String?)]
    {
        guard let value else { throw APIError.badRequest("\(what) must be a JSON object; the request body is empty") }
        guard case .object(let members) = value else {
            throw APIError.badRequest("\(what) must be a JSON object of string values, not \(value.typeName)")
        }
        return try members.map { key, value -> (String, String?) in
            switch value {
            case .string(let text): return (key, text)
            case .number(let text): return (key, text)
            case .bool(let flag): return (key, flag ? "true" : "false")
            case .null: return (key, nil)
            case .array, .object:
                throw APIError.badRequest("\(what) value of \(key) must be a string, not \(value.typeName)")
            }
        }
    }

    static func stringMap(_ config: [String: String]) -> JSONValue {
        .object(config.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    static func info(_ info: ConnectorInfo) -> JSONValue {
        [
            "name": .string(info.name),
            "config": stringMap(info.config),
            "tasks": .array(info.tasks.map { ["connector": .string(info.name), "task": .int($0)] }),
            "type": .string(info.type),
        ]
    }

    static func status(_ status: ConnectorStatus, id: Int? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let id { members.append(("id", .int(id))) }
        members.append(("state", .string(status.state.rawValue)))
        members.append(("worker_id", .string(status.workerId)))
        if let trace = status.trace, !trace.isEmpty { members.append(("trace", .string(trace))) }
        return .object(members)
    }

    static func stateInfo(_ info: ConnectorStateInfo) -> JSONValue {
        [
            "name": .string(info.name),
            "connector": status(info.connector),
            "tasks": .array(info.tasks.map { status($0.1, id: $0.0) }),
            "type": .string(info.type),
        ]
    }

    static func location(_ name: String) -> HTTPFields {
        var headers = HTTPFields()
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? name
        headers[.location] = "/connectors/\(encoded)"
        return headers
    }
}
