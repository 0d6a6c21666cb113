import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RunnelJSON

struct ConnectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector",
        abstract: "Manage Kafka Connect connectors: list, create from a file, status, pause, resume, restart, delete.",
        discussion: """
            Talks to the connect REST API (--connect-url; by default the proxy's URL + /connect, which serves the \
            same API). Ready configs are in the repository's connectors/ folder.
            Examples:
              runnel connector create -f connectors/sqlite-source.json
              runnel connector status shop-sqlite-source
            """,
        subcommands: [
            List.self, Plugins.self, Create.self, Validate.self, Status.self, Pause.self, Resume.self, Restart.self,
            Delete.self,
        ]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the connectors with their states.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let all = try await api.call(.GET, api.connect + "/connectors?expand=status&expand=info")
            let headers = ["NAME", "TYPE", "CLASS", "STATE", "TASKS"]
            let rows: [[JSONValue]] = (all.members ?? []).sorted { $0.0 < $1.0 }.map { name, entry in
                let status = entry["status"]
                let tasks = status?["tasks"]?.arrayValue ?? []
                let running = tasks.filter { $0["state"]?.stringValue == "RUNNING" }.count
                return [
                    .string(name), status?["type"] ?? .null, entry["info"]?["config"]?["connector.class"] ?? .null,
                    status?["connector"]?["state"] ?? .null, .string("\(running)/\(tasks.count) running"),
                ]
            }
            Output.printRows(headers, rows, as: client.output)
        }
    }

    struct Plugins: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the connector plugins this server has (--all: transforms, predicates and converters too)."
        )
        @Flag(help: "Also list transforms, predicates and converters.") var all = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let plugins =
                try await api.call(.GET, api.connect + "/connector-plugins?connectorsOnly=\(!all)").arrayValue ?? []
            let headers = ["CLASS", "TYPE", "VERSION"]
            let rows: [[JSONValue]] = plugins.map {
                [$0["class"] ?? .null, $0["type"] ?? .null, $0["version"] ?? .null]
            }
            Output.printRows(headers, rows, as: client.output)
        }
    }

    /// A connector file: `{"name": …, "config": {…}}` (what POST /connectors takes, as in connectors/), a flat JSON
    /// config with a `name`, or a .properties file (connect-standalone's).
    struct ConnectorFile {
        var name: String
        var config: [(String, JSONValue)]

        static func read(_ path: String, name override: String?) throws -> ConnectorFile {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ClientError("Cannot read \(path): no such file, or not readable.")
            }
            let text = String(decoding: data, as: UTF8.self)
            var config: [(String, JSONValue)]
            var name: String?
            if path.hasSuffix(".properties") {
                config = try properties(text, path)
            } else {
                let json: JSONValue
                do {
                    json = try JSONValue.parse(text)
                } catch {
                    throw ClientError("\(path) is not valid JSON: \(error). Expected {\"name\": …, \"config\": {…}}.")
                }
                guard let members = json.members else {
                    throw ClientError("\(path) must hold a JSON object: {\"name\": …, \"config\": {…}}.")
                }
                if let nested = json["config"] {
                    guard let nestedMembers = nested.members else {
                        throw ClientError("\(path): \"config\" must be an object of string values.")
                    }
                    config = nestedMembers
                    name = json["name"]?.stringValue
                } else {
                    config = members
                }
            }
            name = override ?? name ?? config.first { $0.0 == "name" }?.1.stringValue
            guard let name, !name.isEmpty else {
                throw ClientError("\(path) names no connector: add \"name\", or give --name.")
            }
            for (key, value) in config {
                switch value {
                case .string, .number, .bool: continue
                default: throw ClientError("\(path): the value of \(key) must be a string, not \(value.typeName).")
                }
            }
            config.removeAll { $0.0 == "name" }
            return ConnectorFile(name: name, config: config)
        }

        static func properties(_ text: String, _ path: String) throws -> [(String, JSONValue)] {
            var config: [(String, JSONValue)] = []
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
                guard let split = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                    throw ClientError("\(path) line \(number + 1) is not key=value: \(line)")
                }
                config.append(
                    (
                        line[..<split].trimmingCharacters(in: .whitespaces),
                        .string(line[line.index(after: split)...].trimmingCharacters(in: .whitespaces))
                    )
                )
            }
            return config
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a connector from a file, or update its config with --update.",
            discussion: """
                The file is what POST /connectors takes ({"name": …, "config": {…}}, as in connectors/), a flat \
                JSON config with a "name", or a .properties file.
                """
        )
        @Option(name: [.short, .customLong("file")], help: "The connector file.") var file: String
        @Option(help: "The connector's name (instead of the file's).") var name: String?
        @Flag(help: "Replace the config of an existing connector (PUT /connectors/NAME/config) or create it.")
        var update = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let connector = try ConnectorFile.read(file, name: name)
            let api = try client.api()
            let created: JSONValue
            if update {
                created = try await api.call(
                    .PUT,
                    api.connect + "/connectors/\(RunnelAPI.segment(connector.name))/config",
                    json: .object(connector.config)
                )
            } else {
                created = try await api.call(
                    .POST,
                    api.connect + "/connectors",
                    json: ["name": .string(connector.name), "config": .object(connector.config)]
                )
            }
            switch client.output {
            case .json: Output.printJSON(created)
            case .table:
                Output.print("\(update ? "Configured" : "Created") connector \(connector.name).")
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a connector file's config without creating anything; exits 1 when it has errors."
        )
        @Option(name: [.short, .customLong("file")], help: "The connector file.") var file: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let connector = try ConnectorFile.read(file, name: nil)
            guard let plugin = connector.config.first(where: { $0.0 == "connector.class" })?.1.stringValue else {
                throw ClientError("\(file) has no connector.class.")
            }
            let api = try client.api()
            let result = try await api.call(
                .PUT,
                api.connect + "/connector-plugins/\(RunnelAPI.segment(plugin))/config/validate",
                json: .object(connector.config + [("name", .string(connector.name))])
            )
            let problems: [(String, String)] = (result["configs"]?.arrayValue ?? []).flatMap { entry in
                let key = entry["value"]?["name"]?.stringValue ?? "?"
                return (entry["value"]?["errors"]?.arrayValue ?? []).compactMap { $0.stringValue.map { (key, $0) } }
            }
            switch client.output {
            case .json: Output.printJSON(result)
            case .table:
                if problems.isEmpty {
                    Output.print("\(file): the config is valid for \(plugin).")
                } else {
                    Output.printTable(["CONFIG", "ERROR"], problems.map { [$0.0, $0.1] })
                }
            }
            if !problems.isEmpty { throw ClientError("\(problems.count) config errors.") }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a connector's state and its tasks' (with the error of a failed one)."
        )
        @Argument(help: "The connector.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let status = try await api.call(.GET, api.connect + "/connectors/\(RunnelAPI.segment(name))/status")
            switch client.output {
            case .json: Output.printJSON(status)
            case .table:
                var rows: [[String]] = [
                    [
                        "connector", status["connector"]?["state"]?.cell ?? "-",
                        status["connector"]?["worker_id"]?.cell ?? "-",
                    ]
                ]
                for task in status["tasks"]?.arrayValue ?? [] {
                    rows.append([
                        "task \(task["id"]?.cell ?? "?")", task["state"]?.cell ?? "-", task["worker_id"]?.cell ?? "-",
                    ])
                }
                Output.print("Connector \(name) (\(status["type"]?.cell ?? "?"))")
                Output.printTable(["WHAT", "STATE", "WORKER"], rows)
                let traces = [status["connector"]] + (status["tasks"]?.arrayValue ?? []).map { Optional($0) }
                for case let entry? in traces {
                    if let trace = entry["trace"]?.stringValue {
                        Output.print("\n\(entry["id"].map { "Task \($0.cell)" } ?? "Connector") failed:\n\(trace)")
                    }
                }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a connector and its tasks.")
        @Argument(help: "The connector.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await ConnectorCommand.act(client, .PUT, name, "/pause", done: "Pausing")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused connector.")
        @Argument(help: "The connector.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await ConnectorCommand.act(client, .PUT, name, "/resume", done: "Resuming")
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restart a connector, and its tasks with --include-tasks."
        )
        @Argument(help: "The connector.") var name: String
        @Flag(help: "Restart the tasks too.") var includeTasks = false
        @Flag(help: "Restart only what has failed.") var onlyFailed = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await ConnectorCommand.act(
                client,
                .POST,
                name,
                "/restart?includeTasks=\(includeTasks)&onlyFailed=\(onlyFailed)",
                done: "Restarting"
            )
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop and delete a connector (its offsets stay).")
        @Argument(help: "The connector.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await ConnectorCommand.act(client, .DELETE, name, "", done: "Deleted")
        }
    }

    static func act(
        _ client: ClientOptions,
        _ method: HTTPMethod,
        _ name: String,
        _ path: String,
        done: String
    )
        async throws
    {
        let api = try client.api()
        let result = try await api.call(method, api.connect + "/connectors/\(RunnelAPI.segment(name))" + path)
        switch client.output {
        case .json: Output.printJSON(result.isNull ? ["name": .string(name), "ok": true] : result)
        case .table: Output.print("\(done) connector \(name).")
        }
    }
}
