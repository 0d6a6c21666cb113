public import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
public import Prometheus
public import RunnelBrokerAPI
public import RunnelConnect
public import RunnelHTTP
import RunnelJSON
import RunnelRecords

#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` on both listeners, in Prometheus's text format: what the process recorded through swift-metrics
/// (HTTP requests, produce and fetch, connector records; kept in `registry`), then the state of the cluster read at
/// scrape time (topics, partitions and their offsets, consumer groups and their lag, connectors and tasks, the
/// process), so that series of deleted topics or connectors disappear with them.
public struct MetricsEndpoint: Sendable {
    public let registry: PrometheusCollectorRegistry
    let broker: any Broker
    let worker: ConnectWorker?
    public let started = Date()

    public init(registry: PrometheusCollectorRegistry, broker: any Broker, worker: ConnectWorker?) {
        self.registry = registry
        self.broker = broker
        self.worker = worker
    }

    public func addRoute<Context: RequestContext>(to routes: RouteTable<Context>) {
        routes.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: await render()))
            )
        }
    }

    /// The whole exposition.
    /// The state is read before the recorded metrics are emitted, so a scrape that shows a state (a failed task)
    /// also shows what was recorded before it (the errors that failed it).
    public func render() async -> [UInt8] {
        var text = Exposition()
        process(&text)
        await cluster(&text)
        if let worker { await connectors(worker, &text) }
        var output = registry.emitToBuffer()
        output += text.text.utf8
        return output
    }

    private func process(_ text: inout Exposition) {
        text.family("runnel_uptime_seconds", .gauge, "Seconds since the server started.")
        text.sample("runnel_uptime_seconds", [], Date().timeIntervalSince(started))
        text.family("process_start_time_seconds", .gauge, "Start time of the process since the epoch, in seconds.")
        text.sample("process_start_time_seconds", [], started.timeIntervalSince1970)
        let usage = ProcessUsage.read()
        text.family("process_cpu_seconds_total", .counter, "User and system CPU time spent, in seconds.")
        text.sample("process_cpu_seconds_total", [], usage.cpuSeconds)
        text.family("process_resident_memory_bytes", .gauge, "Resident memory size, in bytes.")
        text.sample("process_resident_memory_bytes", [], Double(usage.residentBytes))
        text.family("process_open_fds", .gauge, "Open file descriptors.")
        text.sample("process_open_fds", [], Double(usage.openFiles))
    }

    private func cluster(_ text: inout Exposition) async {
        let topics = ((try? await broker.listTopics(includeInternal: false)) ?? []).sorted { $0.name < $1.name }
        text.family("runnel_topics", .gauge, "Topics (internal topics excluded).")
        text.sample("runnel_topics", [], Double(topics.count))
        text.family("runnel_partitions", .gauge, "Partitions of those topics.")
        text.sample("runnel_partitions", [], Double(topics.reduce(0) { $0 + $1.partitions.count }))

        let names = Set(topics.map(\.name))
        let storage = ((try? await broker.partitionStorage()) ?? []).filter { names.contains($0.topicPartition.topic) }
        text.family("runnel_partition_log_end_offset", .gauge, "The offset of the next record of a partition.")
        for partition in storage {
            text.sample(
                "runnel_partition_log_end_offset",
                partition.topicPartition.labels,
                Double(partition.logEndOffset)
            )
        }
        text.family("runnel_partition_log_start_offset", .gauge, "The first offset still in a partition's log.")
        for partition in storage {
            text.sample(
                "runnel_partition_log_start_offset",
                partition.topicPartition.labels,
                Double(partition.logStartOffset)
            )
        }
        text.family("runnel_partition_size_bytes", .gauge, "Bytes of a partition's log segments on disk.")
        for partition in storage {
            text.sample("runnel_partition_size_bytes", partition.topicPartition.labels, Double(partition.sizeInBytes))
        }
        text.family("runnel_partition_segments", .gauge, "Log segments of a partition.")
        for partition in storage {
            text.sample("runnel_partition_segments", partition.topicPartition.labels, Double(partition.segments))
        }

        let groups = ((try? await broker.listGroups()) ?? []).sorted { $0.groupId < $1.groupId }
        var descriptions: [GroupDescription] = []
        var lags: [(String, PartitionLag)] = []
        for group in groups {
            if let description = try? await broker.describeGroup(group.groupId) { descriptions.append(description) }
            for lag in (try? await broker.groupLag(group.groupId)) ?? [] { lags.append((group.groupId, lag)) }
        }
        text.family("runnel_consumer_groups", .gauge, "Consumer groups.")
        text.sample("runnel_consumer_groups", [], Double(groups.count))
        text.family("runnel_consumer_group_members", .gauge, "Members of a consumer group.")
        for group in descriptions {
            text.sample("runnel_consumer_group_members", [("group", group.groupId)], Double(group.members.count))
        }
        text.family("runnel_consumer_group_state", .gauge, "1 for the state a consumer group is in.")
        for group in descriptions {
            text.sample("runnel_consumer_group_state", [("group", group.groupId), ("state", group.state.rawValue)], 1)
        }
        text.family(
            "runnel_consumer_group_lag",
            .gauge,
            "Records between a group's committed offset and the log end, per partition."
        )
        for (group, lag) in lags {
            guard let value = lag.lag else { continue }
            text.sample("runnel_consumer_group_lag", [("group", group)] + lag.topicPartition.labels, Double(value))
        }
    }

    private func connectors(_ worker: ConnectWorker, _ text: inout Exposition) async {
        var statuses: [ConnectorStateInfo] = []
        for name in await worker.connectorNames() {
            if let status = try? await worker.status(name) { statuses.append(status) }
        }
        text.family("runnel_connectors", .gauge, "Connectors.")
        text.sample("runnel_connectors", [], Double(statuses.count))
        text.family("runnel_connector_status", .gauge, "1 for the state a connector is in.")
        for status in statuses {
            text.sample(
                "runnel_connector_status",
                [("connector", status.name), ("type", status.type), ("state", status.connector.state.rawValue)],
                1
            )
        }
        text.family("runnel_connector_task_status", .gauge, "1 for the state a connector's task is in.")
        for status in statuses {
            for (id, task) in status.tasks {
                text.sample(
                    "runnel_connector_task_status",
                    [("connector", status.name), ("task", String(id)), ("state", task.state.rawValue)],
                    1
                )
            }
        }
    }
}

extension TopicPartition {
    fileprivate var labels: [(String, String)] { [("topic", topic), ("partition", String(partition))] }
}

/// Prometheus text lines, with HELP and TYPE once per family and label values escaped.
struct Exposition {
    enum Kind: String {
        case gauge, counter
    }

    var text = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            text += labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
            text += "}"
        }
        text += " "
        text += value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        text += "\n"
    }

    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// The process's CPU time, resident memory and open files, from /proc.
struct ProcessUsage {
    var cpuSeconds: Double = 0
    var residentBytes: Int = 0
    var openFiles: Int = 0

    static func read() -> ProcessUsage {
        var usage = ProcessUsage()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        {
            // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 {
                usage.cpuSeconds = (user + system) / ticks
            }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Int(fields[1]) {
                usage.residentBytes = pages * Int(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        usage.openFiles = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return usage
    }
}
