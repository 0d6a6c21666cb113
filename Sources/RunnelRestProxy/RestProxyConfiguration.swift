import Foundation
public import RunnelRecords

/// Settings of the REST proxy, with Confluent REST Proxy's names and defaults where it has them.
public struct RestProxyConfiguration: Sendable {
    /// The largest request body accepted (413 beyond it).
    public var maxRequestBytes = 16 * 1024 * 1024
    /// `consumer.instance.timeout.ms`: a consumer instance not used for this long is closed and leaves its group.
    public var consumerInstanceTimeoutMs: Int64 = 300_000
    /// `consumer.request.timeout.ms`: the longest a `GET .../records` waits for data.
    public var consumerRequestTimeoutMs: Int64 = 1_000
    /// `consumer.request.max.bytes`: the most key and value bytes one `GET .../records` returns.
    public var consumerRequestMaxBytes = 67_108_864
    /// `fetch.min.bytes` for instances that do not set it: -1 (disabled) answers with whatever is available.
    public var fetchMinBytes = -1
    /// How often a subscribed consumer instance heartbeats to its group (Kafka's `heartbeat.interval.ms`).
    public var heartbeatIntervalMs: Int64 = 1_000
    /// A consumer instance's group session timeout (Kafka's `session.timeout.ms`).
    public var sessionTimeoutMs: Int64 = 45_000
    /// `auto.commit.interval.ms` for instances with `auto.commit.enable`.
    public var autoCommitIntervalMs: Int64 = 5_000
    /// `api.v3.produce.batch.maximum.entries`.
    public var produceBatchMaximumEntries = 10
    /// `id`: embedded in generated consumer instance names (`rest-consumer-<id>-<uuid>`).
    public var serverId = ""
    /// The scheme of the links in answers (`base_uri`, v3 `self`): `https` when the listener takes TLS.
    public var scheme = "http"
    /// The clock idle expiry, heartbeats and long polls are measured with.
    public var clock: any WallClock = SystemWallClock()

    public init() {}

    /// Applies the proxy's keys of a server.properties-style file (Confluent REST Proxy's names), returning the keys
    /// it used; a bad value is an error naming the key.
    public mutating func apply(properties: [String: String]) throws(RestProxyConfigurationError) -> Set<String> {
        var used = Set<String>()
        func number(_ key: String, _ range: ClosedRange<Int64>) throws(RestProxyConfigurationError) -> Int64? {
            guard let text = properties[key] else { return nil }
            used.insert(key)
            guard let value = Int64(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw RestProxyConfigurationError(
                    "Invalid value \(text) for \(key): a whole number between \(range.lowerBound) and \(range.upperBound)"
                )
            }
            return value
        }
        if let value = try number("consumer.instance.timeout.ms", 1...Int64(Int32.max)) {
            consumerInstanceTimeoutMs = value
        }
        if let value = try number("consumer.request.timeout.ms", 0...Int64(Int32.max)) {
            consumerRequestTimeoutMs = value
        }
        if let value = try number("consumer.request.max.bytes", 1...Int64(Int32.max)) {
            consumerRequestMaxBytes = Int(value)
        }
        if let value = try number("fetch.min.bytes", -1...10_000_000) { fetchMinBytes = Int(value) }
        if let value = try number("api.v3.produce.batch.maximum.entries", 1...50) {
            produceBatchMaximumEntries = Int(value)
        }
        if let value = properties["id"] {
            used.insert("id")
            serverId = value
        }
        return used
    }
}

public struct RestProxyConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
