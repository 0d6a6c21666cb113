import ArgumentParser
import NIOHTTP1
import RunnelJSON

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Describe the cluster behind a URL.",
        subcommands: [Describe.self]
    )

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster's id, brokers, topics and partitions, and the connect worker's version."
        )
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let brokers = try await api.call(.GET, api.v3(cluster, "/brokers"))["data"]?.arrayValue ?? []
            let topics = (try await api.call(.GET, api.v3(cluster, "/topics"))["data"]?.arrayValue ?? [])
                .filter { $0["is_internal"]?.boolValue != true }
            let partitions = topics.reduce(Int64(0)) { $0 + ($1["partitions_count"]?.int64Value ?? 0) }
            let groups = try await api.call(.GET, api.v3(cluster, "/consumer-groups"))["data"]?.arrayValue ?? []
            let connect = try? await api.call(.GET, api.connect + "/")
            let brokerList: [JSONValue] = brokers.map {
                ["broker_id": $0["broker_id"] ?? .null, "host": $0["host"] ?? .null, "port": $0["port"] ?? .null]
            }
            switch client.output {
            case .json:
                Output.printJSON([
                    "cluster_id": .string(cluster), "brokers": .array(brokerList), "topics": .int(topics.count),
                    "partitions": .int(partitions), "consumer_groups": .int(groups.count),
                    "connect_version": connect?["version"] ?? .null,
                ])
            case .table:
                Output.printTable(
                    ["FIELD", "VALUE"],
                    [
                        ["Cluster ID", cluster],
                        [
                            "Brokers",
                            brokerList.map {
                                "\($0["broker_id"]?.cell ?? "?") (\($0["host"]?.cell ?? "?"):\($0["port"]?.cell ?? "?"))"
                            }.joined(separator: ", "),
                        ],
                        ["Topics", String(topics.count)], ["Partitions", String(partitions)],
                        ["Consumer groups", String(groups.count)],
                        [
                            "Connect",
                            connect?["version"].map { "version \($0.cell) at \(api.connect)" }
                                ?? "not reachable at \(api.connect)",
                        ],
                        ["REST proxy", api.proxy],
                    ]
                )
            }
        }
    }
}
