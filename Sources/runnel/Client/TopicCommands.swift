import ArgumentParser
import NIOHTTP1
import RunnelJSON

struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic",
        abstract: "List, describe, create, alter and delete topics (like kafka-topics).",
        subcommands: [List.self, Describe.self, Create.self, Alter.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the topics.",
            discussion: "Internal topics (__consumer_offsets, the connect worker's) are left out unless --internal."
        )
        @Flag(name: .customLong("internal"), help: "Include internal topics.") var includeInternal = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let topics = try await api.call(.GET, api.v3(cluster, "/topics"))["data"]?.arrayValue ?? []
            let shown = topics.filter { includeInternal || $0["is_internal"]?.boolValue != true }
                .sorted { ($0["topic_name"]?.stringValue ?? "") < ($1["topic_name"]?.stringValue ?? "") }
            let headers = ["NAME", "PARTITIONS", "REPLICATION-FACTOR", "INTERNAL"]
            let rows: [[JSONValue]] = shown.map { (topic: JSONValue) -> [JSONValue] in
                let name: JSONValue = topic["topic_name"] ?? .null
                let partitions: JSONValue = topic["partitions_count"] ?? .null
                let replication: JSONValue = topic["replication_factor"] ?? .null
                return [name, partitions, replication, topic["is_internal"] ?? .null]
            }
            Output.printRows(headers, rows, as: client.output)
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a topic: its partitions with their offsets, and the configs set on it.",
            discussion: "Add --all-configs to list every config, defaults included."
        )
        @Argument(help: "The topic.") var topic: String
        @Flag(help: "List every config, not only those set on the topic.") var allConfigs = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let path = "/topics/\(RunnelAPI.segment(topic))"
            let description = try await api.call(.GET, api.v3(cluster, path))
            let partitions = try await api.call(.GET, api.v3(cluster, path + "/partitions"))["data"]?.arrayValue ?? []
            let configs = try await api.call(.GET, api.v3(cluster, path + "/configs"))["data"]?.arrayValue ?? []
            var rows: [[JSONValue]] = []
            for partition in partitions {
                let id = partition["partition_id"]?.int64Value ?? 0
                let offsets = try await api.call(
                    .GET,
                    "\(api.proxy)/topics/\(RunnelAPI.segment(topic))/partitions/\(id)/offsets"
                )
                rows.append([
                    .int(id), partition["leader"]?["related"].map { .string(Self.brokerId($0.cell)) } ?? .null,
                    offsets["beginning_offset"] ?? .null, offsets["end_offset"] ?? .null,
                ])
            }
            let shownConfigs = configs.filter { allConfigs || $0["is_default"]?.boolValue != true }
            switch client.output {
            case .json:
                Output.printJSON([
                    "topic_name": .string(topic),
                    "partitions_count": description["partitions_count"] ?? .null,
                    "replication_factor": description["replication_factor"] ?? .null,
                    "is_internal": description["is_internal"] ?? .null,
                    "partitions": Output.objects(["partition", "leader", "start_offset", "end_offset"], rows),
                    "configs": .object(shownConfigs.map { ($0["name"]?.cell ?? "", $0["value"] ?? .null) }),
                ])
            case .table:
                Output.print(
                    "Topic: \(topic)\tPartitionCount: \(description["partitions_count"]?.cell ?? "-")"
                        + "\tReplicationFactor: \(description["replication_factor"]?.cell ?? "-")"
                )
                Output.printTable(["PARTITION", "LEADER", "START-OFFSET", "END-OFFSET"], rows.map { $0.map(\.cell) })
                if !shownConfigs.isEmpty {
                    Output.print("")
                    Output.printTable(
                        ["CONFIG", "VALUE", "SOURCE"],
                        shownConfigs.map {
                            [$0["name"]?.cell ?? "", $0["value"]?.cell ?? "-", $0["source"]?.cell ?? "-"]
                        }
                    )
                }
            }
        }

        /// The broker id at the end of a `.../brokers/1` link.
        static func brokerId(_ link: String) -> String {
            String(link.split(separator: "/").last ?? "-")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a topic.",
            discussion: """
                Examples:
                  runnel topic create orders --partitions 6
                  runnel topic create events --config retention.ms=86400000 --config cleanup.policy=compact
                """
        )
        @Argument(help: "The topic: letters, digits, '.', '_' and '-', at most 249 characters.") var topic: String
        @Option(help: "Partitions (default: the server's num.partitions).") var partitions: Int?
        @Option(help: "Replication factor (this server has one broker: 1).") var replicationFactor: Int?
        @Option(name: .long, help: ArgumentHelp("A topic config; repeat for several.", valueName: "key=value"))
        var config: [String] = []
        @Flag(help: "Succeed without doing anything when the topic exists.") var ifNotExists = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let configs = try TopicCommand.parseConfigs(config)
            let api = try client.api()
            let cluster = try await api.clusterId()
            var body: [(String, JSONValue)] = [("topic_name", .string(topic))]
            if let partitions { body.append(("partitions_count", .int(partitions))) }
            if let replicationFactor { body.append(("replication_factor", .int(replicationFactor))) }
            if !configs.isEmpty {
                body.append(("configs", .array(configs.map { ["name": .string($0.0), "value": .string($0.1)] })))
            }
            let reply = try await api.send(.POST, api.v3(cluster, "/topics"), body: JSONValue.object(body).bytes)
            // Confluent answers an existing topic with 400 and error_code 40002.
            if ifNotExists, reply.status == 400 || reply.status == 409,
                (try? reply.json())?["error_code"]?.int64Value == 40002 || reply.status == 409
            {
                return
            }
            try RunnelAPI.check(reply)
            let created = try reply.json()
            switch client.output {
            case .json:
                Output.printJSON([
                    "topic_name": created["topic_name"] ?? .string(topic),
                    "partitions_count": created["partitions_count"] ?? .null,
                    "replication_factor": created["replication_factor"] ?? .null,
                ])
            case .table:
                Output.print("Created topic \(topic) (\(created["partitions_count"]?.cell ?? "?") partitions).")
            }
        }
    }

    struct Alter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add partitions to a topic, or set and remove its configs.",
            discussion: """
                Partitions can only grow. Config changes are applied together or not at all.
                Examples:
                  runnel topic alter orders --partitions 12
                  runnel topic alter orders --config retention.ms=3600000 --delete-config cleanup.policy
                """
        )
        @Argument(help: "The topic.") var topic: String
        @Option(help: "The new number of partitions.") var partitions: Int?
        @Option(name: .long, help: ArgumentHelp("Set a config; repeat for several.", valueName: "key=value"))
        var config: [String] = []
        @Option(name: .long, help: ArgumentHelp("Reset a config to its default.", valueName: "key"))
        var deleteConfig: [String] = []
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if partitions == nil && config.isEmpty && deleteConfig.isEmpty {
                throw ValidationError("Nothing to change: give --partitions, --config or --delete-config.")
            }
        }

        func run() async throws {
            let configs = try TopicCommand.parseConfigs(config)
            let api = try client.api()
            let cluster = try await api.clusterId()
            let path = "/topics/\(RunnelAPI.segment(topic))"
            if let partitions {
                try await api.call(.PATCH, api.v3(cluster, path), json: ["partitions_count": .int(partitions)])
            }
            if !configs.isEmpty || !deleteConfig.isEmpty {
                let changes: [JSONValue] =
                    configs.map { ["name": .string($0.0), "value": .string($0.1)] }
                    + deleteConfig.map { ["name": .string($0), "operation": "DELETE"] }
                try await api.call(.POST, api.v3(cluster, path + "/configs:alter"), json: ["data": .array(changes)])
            }
            if client.output == .table { Output.print("Altered topic \(topic).") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic and its records.")
        @Argument(help: "The topic.") var topic: String
        @Flag(help: "Succeed without doing anything when the topic does not exist.") var ifExists = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let reply = try await api.send(.DELETE, api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))"))
            if reply.status == 404 && ifExists { return }
            try RunnelAPI.check(reply)
            if client.output == .table { Output.print("Deleted topic \(topic).") }
        }
    }

    /// `key=value` pairs, in order.
    static func parseConfigs(_ pairs: [String]) throws -> [(String, String)] {
        try pairs.map { pair in
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--config takes key=value, not \(pair)")
            }
            return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
        }
    }
}
