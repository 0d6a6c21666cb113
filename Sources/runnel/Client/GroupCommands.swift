import ArgumentParser
import NIOHTTP1
import RunnelJSON

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "List and describe consumer groups, and reset their offsets (like kafka-consumer-groups).",
        subcommands: [List.self, Describe.self, ResetOffsets.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the consumer groups and their states.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let groups = try await api.call(.GET, api.v3(cluster, "/consumer-groups"))["data"]?.arrayValue ?? []
            let headers = ["GROUP", "STATE", "ASSIGNOR", "SIMPLE"]
            let rows: [[JSONValue]] = groups.map {
                [
                    $0["consumer_group_id"] ?? .null, $0["state"] ?? .null, $0["partition_assignor"] ?? .null,
                    $0["is_simple"] ?? .null,
                ]
            }.sorted { $0[0].cell < $1[0].cell }
            Output.printRows(headers, rows, as: client.output)
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group's committed offsets and lag per partition, and its members.",
            discussion: "LAG is the log end offset minus the committed offset: records the group has yet to read."
        )
        @Argument(help: "The group.") var group: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let path = "/consumer-groups/\(RunnelAPI.segment(group))"
            let description = try await api.call(.GET, api.v3(cluster, path))
            let lags = (try await api.call(.GET, api.v3(cluster, path + "/lags"))["data"]?.arrayValue ?? [])
                .sorted {
                    ($0["topic_name"]?.cell ?? "", $0["partition_id"]?.int64Value ?? 0) < (
                        $1["topic_name"]?.cell ?? "", $1["partition_id"]?.int64Value ?? 0
                    )
                }
            let consumers = try await api.call(.GET, api.v3(cluster, path + "/consumers"))["data"]?.arrayValue ?? []
            let headers = ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "CLIENT-ID"]
            let rows: [[JSONValue]] = lags.map {
                [
                    $0["topic_name"] ?? .null, $0["partition_id"] ?? .null, $0["current_offset"] ?? .null,
                    $0["log_end_offset"] ?? .null, $0["lag"] ?? .null, Self.orNull($0["consumer_id"]),
                    Self.orNull($0["client_id"]),
                ]
            }
            switch client.output {
            case .json:
                Output.printJSON([
                    "group": .string(group),
                    "state": description["state"] ?? .null,
                    "members": .int(consumers.count),
                    "total_lag": .int(lags.reduce(Int64(0)) { $0 + ($1["lag"]?.int64Value ?? 0) }),
                    "partitions": Output.objects(headers, rows),
                ])
            case .table:
                Output.print(
                    "Group \(group) is \(description["state"]?.cell ?? "?") with \(consumers.count) members; total lag "
                        + "\(lags.reduce(Int64(0)) { $0 + ($1["lag"]?.int64Value ?? 0) })."
                )
                if !rows.isEmpty {
                    Output.print("")
                    Output.printTable(headers, rows.map { $0.map(\.cell) })
                }
            }
        }

        static func orNull(_ value: JSONValue?) -> JSONValue {
            guard let value, value.stringValue != "" else { return .null }
            return value
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Move a group's committed offsets: to the earliest, the latest, or a given offset.",
            discussion: """
                Shows the new offsets without changing anything unless --execute is given. The group must have no \
                active members (stop its consumers first).
                Examples:
                  runnel group reset-offsets billing --topic orders --to-earliest            # dry run
                  runnel group reset-offsets billing --topic orders --to-offset 100 --execute
                """
        )
        @Argument(help: "The group.") var group: String
        @Option(help: "A topic whose offsets to move (repeat for several; all its partitions).") var topic: [String] =
            []
        @Flag(help: "Every topic the group has committed offsets for.") var allTopics = false
        @Flag(help: "Move to each partition's first offset.") var toEarliest = false
        @Flag(help: "Move to each partition's end (skip everything written so far).") var toLatest = false
        @Option(help: "Move to this offset (clamped to each partition's range).") var toOffset: Int64?
        @Flag(help: "Apply the change (without it, only show it).") var execute = false
        @OptionGroup var client: ClientOptions

        func validate() throws {
            let targets = [toEarliest, toLatest, toOffset != nil].filter { $0 }.count
            if targets != 1 { throw ValidationError("Give exactly one of --to-earliest, --to-latest and --to-offset.") }
            if topic.isEmpty == !allTopics { throw ValidationError("Give --topic (one or more) or --all-topics.") }
            if let toOffset, toOffset < 0 { throw ValidationError("--to-offset must not be negative") }
        }

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            // A group that does not exist yet may be given offsets (its consumers will start there).
            let described = try await api.send(.GET, api.v3(cluster, "/consumer-groups/\(RunnelAPI.segment(group))"))
            if described.status != 404 { try RunnelAPI.check(described) }
            let state = described.status == 404 ? nil : try described.json()["state"]?.stringValue
            if execute, let state, !["EMPTY", "DEAD", "UNKNOWN"].contains(state) {
                throw ClientError("Group \(group) has active members (state \(state)); stop its consumers, then reset.")
            }
            var topics = topic
            if allTopics {
                let lags = try await api.call(
                    .GET,
                    api.v3(cluster, "/consumer-groups/\(RunnelAPI.segment(group))/lags")
                )
                topics = Array(Set((lags["data"]?.arrayValue ?? []).compactMap { $0["topic_name"]?.stringValue }))
                    .sorted()
                if topics.isEmpty { throw ClientError("Group \(group) has no committed offsets.") }
            }
            var plan: [(topic: String, partition: Int64, offset: Int64)] = []
            for topic in topics {
                let description = try await api.call(.GET, api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))"))
                for partition in 0..<(description["partitions_count"]?.int64Value ?? 0) {
                    let offsets = try await api.call(
                        .GET,
                        "\(api.proxy)/topics/\(RunnelAPI.segment(topic))/partitions/\(partition)/offsets"
                    )
                    let first = offsets["beginning_offset"]?.int64Value ?? 0
                    let end = offsets["end_offset"]?.int64Value ?? 0
                    let target = toEarliest ? first : toLatest ? end : min(max(toOffset ?? 0, first), end)
                    plan.append((topic, partition, target))
                }
            }
            if execute { try await apply(plan, api) }
            let headers = ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
            let rows: [[JSONValue]] = plan.map {
                [.string(group), .string($0.topic), .int($0.partition), .int($0.offset)]
            }
            switch client.output {
            case .json: Output.printJSON(["executed": .bool(execute), "offsets": Output.objects(headers, rows)])
            case .table:
                Output.printTable(headers, rows.map { $0.map(\.cell) })
                if !execute { Output.note("Dry run: nothing changed. Add --execute to apply.") }
            }
        }

        /// Commits the new offsets through a v2 consumer instance of the group: assign the partitions, seek, commit
        /// the positions, leave.
        private func apply(_ plan: [(topic: String, partition: Int64, offset: Int64)], _ api: RunnelAPI) async throws {
            let v2 = GroupReader.v2
            let name = "runnel-cli-reset-\(UInt32.random(in: 0...UInt32.max))"
            let groupPath = "\(api.proxy)/consumers/\(RunnelAPI.segment(group))"
            try await api.call(
                .POST,
                groupPath,
                json: ["name": .string(name), "format": "binary"],
                contentType: v2,
                accept: v2
            )
            let instance = groupPath + "/instances/" + RunnelAPI.segment(name)
            do {
                let partitions: [JSONValue] = plan.map {
                    ["topic": .string($0.topic), "partition": .int($0.partition)]
                }
                try await api.call(
                    .POST,
                    instance + "/assignments",
                    json: ["partitions": .array(partitions)],
                    contentType: v2,
                    accept: v2
                )
                let positions: [JSONValue] = plan.map {
                    ["topic": .string($0.topic), "partition": .int($0.partition), "offset": .int($0.offset)]
                }
                try await api.call(
                    .POST,
                    instance + "/positions",
                    json: ["offsets": .array(positions)],
                    contentType: v2,
                    accept: v2
                )
                try await api.call(.POST, instance + "/offsets", contentType: v2, accept: v2)
            } catch {
                _ = try? await api.send(.DELETE, instance, contentType: v2, accept: v2)
                throw error
            }
            try await api.call(.DELETE, instance, contentType: v2, accept: v2)
        }
    }
}
