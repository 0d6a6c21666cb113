import Foundation
import HTTPTypes
import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

/// `/connectors...`: creating, configuring, pausing, resuming, restarting, deleting connectors, their status, tasks,
/// topics and offsets.
struct ConnectorController: ConnectController {
    let broker: any Broker
    let worker: ConnectWorker
    let maxRequestBytes: Int

    /// The connectors the caller may see: all of them with DESCRIBE on the cluster, otherwise those it may DESCRIBE.
    func visibleConnectors() async -> [String] {
        let names = await worker.connectorNames()
        if await broker.isAuthorized(.describe, on: .cluster) { return names }
        var visible: [String] = []
        for name in names where await broker.isAuthorized(.describe, on: .connector(name)) { visible.append(name) }
        return visible
    }

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        routes.get("/connectors") { request, _ in
            let expand = Set(request.uri.queryParameters.getAll("expand"))
            let names = await visibleConnectors()
            guard expand.contains("status") || expand.contains("info") else {
                return .json(.array(names.map { .string($0) }))
            }
            var members: [(String, JSONValue)] = []
            for name in names {
                var parts: [(String, JSONValue)] = []
                // A connector deleted while listing is skipped, as Kafka does.
                if expand.contains("status") {
                    guard let status = try? await worker.status(name) else { continue }
                    parts.append(("status", ConnectAPI.stateInfo(status)))
                }
                if expand.contains("info") {
                    guard let info = try? await worker.info(name) else { continue }
                    parts.append(("info", ConnectAPI.info(info)))
                }
                members.append((name, .object(parts)))
            }
            return .json(.object(members))
        }

        routes.post("/connectors") { request, _ in
            guard case .object(let members)? = try await request.jsonBody(limit: maxRequestBytes) else {
                throw APIError.badRequest("The request body must be a JSON object with \"name\" and \"config\"")
            }
            var name: String?
            var config: [String: String]?
            var initialState = TargetState.started
            for (key, value) in members {
                switch key {
                case "name":
                    guard case .string(let text) = value else { throw APIError.badRequest("\"name\" must be a string") }
                    name = text
                case "config":
                    config = try ConnectAPI.configMap(value)
                case "initial_state":
                    if case .null = value { continue }
                    guard case .string(let text) = value, let state = TargetState(initialState: text) else {
                        throw APIError.badRequest(
                            "Invalid initial_state \(value.text): it must be one of RUNNING, PAUSED, STOPPED"
                        )
                    }
                    initialState = state
                default:
                    continue
                }
            }
            guard let config else {
                throw APIError.badRequest("The request body must contain \"config\", the connector's configuration")
            }
            guard let requested = name ?? config["name"] else {
                throw APIError.badRequest("Connector name must be given (\"name\")")
            }
            try await require(.create, connector: requested.trimmingCharacters(in: .whitespacesAndNewlines))
            let info = try await call { () async throws(WorkerError) in
                try await worker.create(name: requested, config: config, initialState: initialState)
            }
            return .json(ConnectAPI.info(info), status: .created, headers: ConnectAPI.location(info.name))
        }

        routes.get("/connectors/{connector}") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let info = try await call { () async throws(WorkerError) in try await worker.info(name) }
            return .json(ConnectAPI.info(info))
        }

        routes.delete("/connectors/{connector}") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.delete, connector: name)
            try await call { () async throws(WorkerError) in try await worker.delete(name) }
            return .noContent()
        }

        routes.get("/connectors/{connector}/config") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let config = try await call { () async throws(WorkerError) in try await worker.config(name) }
            return .json(ConnectAPI.stringMap(config))
        }

        routes.put("/connectors/{connector}/config") { request, context in
            let name = try ConnectAPI.connectorName(context)
            // Creating or replacing: one refusal for both, so it does not tell whether the connector exists.
            let needed: AclOperation = await worker.connectorNames().contains(name) ? .alter : .create
            do {
                try await require(needed, connector: name)
            } catch let error as APIError where error.status == .forbidden {
                throw APIError(.forbidden, 403, "Not authorized to create or configure connector \(name)")
            }
            let config = try ConnectAPI.configMap(try await request.jsonBody(limit: maxRequestBytes))
            let result = try await call { () async throws(WorkerError) in try await worker.putConfig(name, config) }
            if result.created {
                return .json(
                    ConnectAPI.info(result.info),
                    status: .created,
                    headers: ConnectAPI.location(result.info.name)
                )
            }
            return .json(ConnectAPI.info(result.info))
        }

        routes.patch("/connectors/{connector}/config") { request, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            let patch = try ConnectAPI.configPatch(try await request.jsonBody(limit: maxRequestBytes))
            let info = try await call { () async throws(WorkerError) in try await worker.patchConfig(name, patch) }
            return .json(ConnectAPI.info(info))
        }

        routes.get("/connectors/{connector}/status") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let status = try await call(notFound: "No status found for connector \(name)") {
                () async throws(WorkerError) in try await worker.status(name)
            }
            return .json(ConnectAPI.stateInfo(status))
        }

        routes.post("/connectors/{connector}/restart") { request, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            let includeTasks = try ConnectAPI.flag(request, "includeTasks")
            let onlyFailed = try ConnectAPI.flag(request, "onlyFailed")
            let status = try await call(notFound: "Unknown connector: \(name)") { () async throws(WorkerError) in
                try await worker.restart(name, includeTasks: includeTasks, onlyFailed: onlyFailed)
            }
            guard let status else { return .noContent() }
            return .json(ConnectAPI.stateInfo(status), status: .accepted)
        }

        for (action, state, code) in [
            ("pause", TargetState.paused, HTTPResponse.Status.accepted), ("resume", .started, .accepted),
            ("stop", .stopped, .noContent),
        ] {
            routes.put("/connectors/{connector}/\(action)") { _, context in
                let name = try ConnectAPI.connectorName(context)
                try await require(.alter, connector: name)
                try await call(notFound: "Unknown connector \(name)") { () async throws(WorkerError) in
                    try await worker.setTargetState(name, state)
                }
                return Response(status: code)
            }
        }

        routes.get("/connectors/{connector}/tasks") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let tasks = try await call { () async throws(WorkerError) in try await worker.tasks(name) }
            return .json(
                .array(
                    tasks.enumerated().map { id, config in
                        ["id": ["connector": .string(name), "task": .int(id)], "config": ConnectAPI.stringMap(config)]
                    }
                )
            )
        }

        routes.get("/connectors/{connector}/tasks/{task}/status") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let id = try ConnectAPI.taskId(context)
            let status = try await call(notFound: "No status found for task \(name)-\(id)") {
                () async throws(WorkerError) in try await worker.taskStatus(name, id)
            }
            return .json(ConnectAPI.status(status, id: id))
        }

        routes.post("/connectors/{connector}/tasks/{task}/restart") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            let id = try ConnectAPI.taskId(context)
            try await call { () async throws(WorkerError) in try await worker.restartTask(name, id) }
            return .noContent()
        }

        routes.get("/connectors/{connector}/topics") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let topics = try await call { () async throws(WorkerError) in try await worker.activeTopics(name) }
            return .json([name: ["topics": .array(topics.map { .string($0) })]])
        }

        routes.put("/connectors/{connector}/topics/reset") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            try await call { () async throws(WorkerError) in try await worker.resetActiveTopics(name) }
            return Response(status: .accepted)
        }

        routes.get("/connectors/{connector}/offsets") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.describe, connector: name)
            let offsets = try await call { () async throws(WorkerError) in try await worker.offsets(name) }
            return .json([
                "offsets": .array(
                    offsets.map {
                        ["partition": ConnectJSON.json($0.partition), "offset": ConnectJSON.json($0.offset)]
                    }
                )
            ])
        }

        routes.patch("/connectors/{connector}/offsets") { request, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            let body = try await request.jsonBody(limit: maxRequestBytes)
            guard case .object = body, let list = body?["offsets"] else {
                throw APIError.badRequest(
                    "The offsets to be altered may not be null or empty: send {\"offsets\": [...]}"
                )
            }
            guard case .array(let items) = list else { throw APIError.badRequest("\"offsets\" must be an array") }
            var offsets: [ConnectorOffset] = []
            for item in items {
                guard case .object = item, let partition = item["partition"] else {
                    throw APIError.badRequest(
                        "Each entry of \"offsets\" must be an object with \"partition\" and \"offset\""
                    )
                }
                offsets.append(
                    ConnectorOffset(
                        partition: ConnectJSON.value(partition),
                        offset: ConnectJSON.value(item["offset"] ?? .null)
                    )
                )
            }
            let message = try await call { () async throws(WorkerError) in try await worker.alterOffsets(name, offsets)
            }
            return .json(["message": .string(message)])
        }

        routes.delete("/connectors/{connector}/offsets") { _, context in
            let name = try ConnectAPI.connectorName(context)
            try await require(.alter, connector: name)
            let message = try await call { () async throws(WorkerError) in try await worker.resetOffsets(name) }
            return .json(["message": .string(message)])
        }
    }
}
