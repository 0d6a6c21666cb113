import Foundation
import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

extension ConnectAPI {
    func addPluginRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        routes.get("/connector-plugins") { request, _ in
            let connectorsOnly =
                request.uri.queryParameters.get("connectorsOnly").map { $0.lowercased() != "false" } ?? true
            let registry = worker.registry
            var plugins: [JSONValue] = registry.connectors.sorted { $0.className < $1.className }.map {
                ["class": .string($0.className), "type": .string($0.type.rawValue), "version": .string($0.version)]
            }
            if !connectorsOnly {
                let others =
                    registry.transforms.map { ($0.className, "transformation") }
                    + registry.predicates.map { ($0.className, "predicate") }
                    + ConnectorConfig.converterClasses.map { ($0, "converter") }
                for (className, type) in others {
                    plugins.append(["class": .string(className), "type": .string(type), "version": .string(version)])
                }
            }
            return .json(.array(plugins))
        }

        routes.get("/connector-plugins/{plugin}/config") { _, context in
            let name = context.decodedParameter("plugin") ?? ""
            let registry = worker.registry
            let definition: ConfigDef
            if let plugin = registry.connector(name) {
                definition = plugin.configDef
            } else if let transform = registry.transform(name) {
                definition = transform.type.configDef
            } else if let predicate = registry.predicate(name) {
                definition = predicate.type.configDef
            } else {
                throw APIError.notFound("Unknown plugin \(name).")
            }
            return .json(.array(definition.keys.map(Self.definition)))
        }

        routes.put("/connector-plugins/{plugin}/config/validate") { request, context in
            let name = context.decodedParameter("plugin") ?? ""
            let config = try Self.configMap(try await request.jsonBody(limit: maxRequestBytes))
            guard let className = config["connector.class"], !className.isEmpty else {
                throw APIError.badRequest(
                    "Connector config \(ConnectWorker.javaMap(config, definition: nil)) contains no connector type"
                )
            }
            let registry = worker.registry
            guard let plugin = registry.connector(className) else {
                throw APIError.badRequest(
                    "Failed to find any class that implements Connector and which name matches \(className), available connectors are: \(registry.connectors.map(\.className).joined(separator: ", "))"
                )
            }
            guard plugin.answers(to: name) else {
                throw APIError.badRequest("Included connector type \(className) does not match request type \(name)")
            }
            // Validating is what creating does first: CREATE on the connector it names (`*` when it names none).
            try await require(.create, connector: config["name"]?.trimmingCharacters(in: .whitespaces) ?? "*")
            return .json(Self.configInfos(await worker.validate(config: config, plugin: plugin)))
        }
    }

    static func definition(_ key: ConfigKey) -> JSONValue {
        [
            "name": .string(key.name),
            "type": .string(key.type.rawValue),
            "required": .bool(key.required),
            "default_value": key.required ? .null : .optionalString(key.defaultValue),
            "importance": .string(key.importance.rawValue),
            "documentation": .string(key.documentation),
            "group": .optionalString(key.group),
            "order": .int(key.orderInGroup),
            "width": .string(key.width.rawValue),
            "display_name": .string(key.displayName),
            "dependents": .array([]),
        ]
    }

    static func configInfos(_ infos: ConfigInfos) -> JSONValue {
        [
            "name": .string(infos.name),
            "error_count": .int(infos.errorCount),
            "groups": .array(infos.groups.map { .string($0) }),
            "configs": .array(
                infos.configs.map { entry in
                    [
                        "definition": entry.key.isUndefined ? .null : definition(entry.key),
                        "value": [
                            "name": .string(entry.key.name),
                            "value": .optionalString(
                                entry.value ?? (entry.key.isUndefined ? nil : entry.key.defaultValue)
                            ),
                            "recommended_values": .array(entry.key.recommendedValues.map { .string($0) }),
                            "errors": .array(entry.errors.map { .string($0) }),
                            "visible": true,
                        ],
                    ]
                }
            ),
        ]
    }

    func addLoggerRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
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
