public import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
public import RunnelBrokerAPI
public import RunnelConnect
public import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// The dashboard at `/ui` on the proxy port: a page and its script and style (built into the binary; read from
/// `RUNNEL_UI_DIR` instead when that is set, to work on them without rebuilding), and the JSON the page polls
/// besides the public APIs: an overview, partitions with their sizes, the sampled rates and lags, and the
/// connector templates.
public struct Dashboard: Sendable {
    let broker: any Broker
    let worker: ConnectWorker?
    let sampler: TrafficSampler
    let started: Date
    let version: String
    let assetDirectory: String?

    public init(
        broker: any Broker,
        worker: ConnectWorker?,
        sampler: TrafficSampler,
        started: Date,
        version: String,
        assetDirectory: String? = nil
    ) {
        self.broker = broker
        self.worker = worker
        self.sampler = sampler
        self.started = started
        self.version = version
        self.assetDirectory = assetDirectory.flatMap { $0.isEmpty ? nil : $0 }
    }

    struct Asset {
        let bytes: [UInt8]
        let contentType: String
    }

    static let assets: [String: Asset] = [
        "index.html": Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8"),
        "app.js": Asset(bytes: PackageResources.app_js, contentType: "text/javascript; charset=utf-8"),
        "app.css": Asset(bytes: PackageResources.app_css, contentType: "text/css; charset=utf-8"),
        "favicon.svg": Asset(bytes: PackageResources.favicon_svg, contentType: "image/svg+xml"),
    ]

    /// The templates of `connectors/`, by file name without `.json`.
    static let templates: [(name: String, bytes: [UInt8])] = [
        ("sqlite-source", PackageResources.sqlite_source_json),
        ("s3-sink", PackageResources.s3_sink_json),
        ("file-source", PackageResources.file_source_json),
        ("file-sink", PackageResources.file_sink_json),
    ]

    /// The page's files, and its data behind `check` (which refuses callers who may not see the whole cluster).
    public func addRoutes<Context: RequestContext>(
        to routes: RouteTable<Context>,
        checkingData check: RouteTable<Context>.Check? = nil
    ) {
        routes.get("/ui") { _, _ in try asset("index.html") }
        routes.get("/ui/{asset}") { _, context in try asset(context.parameters.get("asset") ?? "") }
        let data = check.map { routes.checking($0) } ?? routes
        data.get("/ui/api/overview") { _, _ in .json(await overview()) }
        data.get("/ui/api/partitions") { _, _ in .json(try await partitions()) }
        data.get("/ui/api/series") { _, _ in .json(await series()) }
        data.get("/ui/api/templates") { _, _ in .json(try templates()) }
    }

    /// The page loads only its own script, style and data, cannot be framed by another site, and sends no referrer:
    /// injected markup could neither run nor phone home, and a click-jacking frame stays empty.
    static let pageSecurityHeaders: [(HTTPField.Name, String)] = [
        (
            .contentSecurityPolicy,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        (.xFrameOptions, "DENY"),
        (.referrerPolicy, "no-referrer"),
    ]

    private func asset(_ name: String) throws -> Response {
        guard let embedded = Self.assets[name] else {
            throw APIError(.notFound, 404, "HTTP 404 Not Found")
        }
        var bytes = embedded.bytes
        if let assetDirectory {
            let url = URL(fileURLWithPath: assetDirectory).appendingPathComponent(name)
            if let data = try? Data(contentsOf: url) { bytes = Array(data) }
        }
        var headers = HTTPFields()
        headers[.contentType] = embedded.contentType
        headers[.cacheControl] = "no-cache"
        for (name, value) in Self.pageSecurityHeaders { headers[name] = value }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func overview() async -> JSONValue {
        let topics = (try? await broker.listTopics(includeInternal: false)) ?? []
        let groups = (try? await broker.listGroups()) ?? []
        let clusterId = (try? await broker.describeCluster().clusterId) ?? ""
        var connectors: JSONValue = .null
        if let worker { connectors = .int(await worker.connectorNames().count) }
        return [
            "cluster_id": .string(clusterId),
            "version": .string(version),
            "started_at": .string(Self.iso8601(started)),
            "uptime_seconds": .number(String(format: "%.1f", Date().timeIntervalSince(started))),
            "topics": .int(topics.count),
            "partitions": .int(topics.reduce(0) { $0 + $1.partitions.count }),
            "consumer_groups": .int(groups.count),
            "connectors": connectors,
            "sample_interval_seconds": .number(String(format: "%g", Double(sampler.interval.components.seconds))),
        ]
    }

    /// Every partition of the (non-internal) topics with its offsets and size on disk.
    private func partitions() async throws -> JSONValue {
        let names = Set(try await broker.listTopics(includeInternal: false).map(\.name))
        let storage = try await broker.partitionStorage()
            .filter { names.contains($0.topicPartition.topic) }
            .sorted {
                ($0.topicPartition.topic, $0.topicPartition.partition) < (
                    $1.topicPartition.topic, $1.topicPartition.partition
                )
            }
        return .object([
            (
                "partitions",
                .array(
                    storage.map {
                        [
                            "topic_name": .string($0.topicPartition.topic),
                            "partition_id": .int($0.topicPartition.partition),
                            "log_start_offset": .int($0.logStartOffset),
                            "log_end_offset": .int($0.logEndOffset),
                            "size_bytes": .int($0.sizeInBytes),
                            "segments": .int($0.segments),
                        ]
                    }
                )
            )
        ])
    }

    /// The sampled rates and lags: one array per series, aligned with `timestamps`; only the topics and groups the
    /// caller may see (the broker's lists are filtered for it).
    private func series() async -> JSONValue {
        let samples = sampler.samples()
        let visibleTopics = Set(((try? await broker.listTopics(includeInternal: true)) ?? []).map(\.name))
        let visibleGroups = Set(((try? await broker.listGroups()) ?? []).map(\.groupId))
        func rates(_ pick: (TrafficSampler.Sample) -> TrafficSampler.Rates?) -> JSONValue {
            let picked = samples.map(pick)
            func column(_ value: (TrafficSampler.Rates) -> Double) -> JSONValue {
                .array(picked.map { .number(Self.number($0.map(value) ?? 0)) })
            }
            return [
                "bytes_in_per_sec": column(\.bytesIn),
                "bytes_out_per_sec": column(\.bytesOut),
                "messages_in_per_sec": column(\.messagesIn),
            ]
        }
        let topics = Set(samples.flatMap(\.topics.keys)).intersection(visibleTopics).sorted()
        let groups = Set(samples.flatMap(\.groupLag.keys)).intersection(visibleGroups).sorted()
        return [
            "interval_seconds": .int(sampler.interval.components.seconds),
            "timestamps": .array(samples.map { .int($0.time) }),
            "cluster": rates(\.cluster),
            "topics": .object(topics.map { topic in (topic, rates { $0.topics[topic] }) }),
            "groups": .object(
                groups.map { group in
                    (group, ["lag": .array(samples.map { .optionalInt($0.groupLag[group]) })])
                }
            ),
        ]
    }

    private func templates() throws -> JSONValue {
        .object([
            (
                "templates",
                .array(
                    try Self.templates.map { template in
                        [
                            "name": .string(template.name),
                            "body": try JSONValue.parse(ByteBuffer(bytes: template.bytes)),
                        ]
                    }
                )
            )
        ])
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
