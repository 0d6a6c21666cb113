import Foundation
import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

/// `/admin/loggers...`: the worker's log levels, read and changed at runtime (DESCRIBE_CONFIGS / ALTER_CONFIGS on the
/// cluster).
struct LoggerController: ConnectController {
    let broker: any Broker
    let loggers: LoggerLevels
    let maxRequestBytes: Int

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        routes.get("/admin/loggers") { _, _ in
            try await require(anyOf: [AclCheck(.describeConfigs, .cluster)])
            return .json(
                .object(
                    loggers.all().map { name, level, modified in
                        (name, ["level": .string(level), "last_modified": .optionalInt(modified)])
                    }
                )
            )
        }

        routes.get("/admin/loggers/{logger}") { _, context in
            try await require(anyOf: [AclCheck(.describeConfigs, .cluster)])
            let name = context.decodedParameter("logger") ?? ""
            guard let (level, modified) = loggers.level(named: name) else {
                throw APIError.notFound("Logger \(name) not found.")
            }
            return .json(["level": .string(level), "last_modified": .optionalInt(modified)])
        }

        routes.put("/admin/loggers/{logger}") { request, context in
            // A log level is the server's config: trace would log what others send.
            try await require(anyOf: [AclCheck(.alterConfigs, .cluster)])
            let name = context.decodedParameter("logger") ?? ""
            let body = try await request.jsonBody(limit: maxRequestBytes)
            guard case .object = body, let levelValue = body?["level"], !levelValue.isNull else {
                throw APIError.badRequest("Desired 'level' parameter was not specified in request.")
            }
            guard case .string(let level) = levelValue, let affected = loggers.set(name, level: level) else {
                throw APIError.notFound("invalid log level '\(levelValue.stringValue ?? levelValue.text)'.")
            }
            // One worker: the cluster scope is this worker too, answered as Kafka answers it.
            if request.uri.queryParameters.get("scope")?.lowercased() == "cluster" {
                return .noContent()
            }
            return .json(.array(affected.map { .string($0) }))
        }
    }
}
