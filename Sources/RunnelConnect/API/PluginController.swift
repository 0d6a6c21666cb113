import Foundation
import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

/// `/connector-plugins...`: the plugins this worker has, their config definitions, and config validation.
struct PluginController: ConnectController {
    let broker: any Broker
    let worker: ConnectWorker
    /// The worker's version, reported for the transformations, predicates and converters it ships.
    let version: String
    let maxRequestBytes: Int

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
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
            let config = try ConnectAPI.configMap(try await request.jsonBody(limit: maxRequestBytes))
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
}
