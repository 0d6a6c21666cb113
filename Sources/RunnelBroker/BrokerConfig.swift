public import RunnelBrokerAPI

/// Broker-wide settings, with the names of Kafka's `server.properties`.
///
/// Topic defaults use the broker-level names (`log.retention.ms`, `message.max.bytes`, `log.cleanup.policy`, ...)
/// and apply to every topic without its own override. Unknown keys are kept in ``ignoredKeys`` (Kafka logs them as
/// "supplied but isn't a known config"), so a Kafka `server.properties` can be used as it is.
public struct BrokerConfig: Sendable, Hashable {
    /// `node.id`: this broker's id, stored in `meta.properties`.
    public var nodeId: Int32 = 1
    /// `num.partitions`: partitions of topics created without a count (and of auto-created topics).
    public var numPartitions: Int32 = 1
    /// `default.replication.factor`: must be 1 on one node.
    public var defaultReplicationFactor: Int16 = 1
    /// `auto.create.topics.enable`: create a topic on its first produce. Off by default (Kafka's default is on; a
    /// typo in a topic name should be an error, not a new topic).
    public var autoCreateTopicsEnable = false
    /// `delete.topic.enable`.
    public var deleteTopicEnable = true
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` (fixed once the topic exists).
    public var offsetsTopicNumPartitions: Int32 = 50
    /// `offsets.topic.segment.bytes`.
    public var offsetsTopicSegmentBytes = 104_857_600
    /// `offsets.retention.minutes`: how long an empty group's offsets are kept.
    public var offsetsRetentionMinutes: Int64 = 10_080
    /// `offsets.retention.check.interval.ms`.
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// `offset.metadata.max.bytes`: the longest metadata string of a committed offset.
    public var offsetMetadataMaxBytes = 4096
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for more members.
    /// 0 as in Kafka's shipped `server.properties` (the code default, 3000, makes every first join slow).
    public var groupInitialRebalanceDelayMs: Int64 = 0
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    public var groupMinSessionTimeoutMs: Int64 = 6000
    public var groupMaxSessionTimeoutMs: Int64 = 1_800_000
    /// `group.max.size`: members per group.
    public var groupMaxSize = Int(Int32.max)
    /// `fetch.max.bytes`: the most record bytes one fetch returns, whatever it asks for (clamped, not refused; the
    /// first batch is returned even when larger). Kafka's default, 55 MiB.
    public var fetchMaxBytes = 57_671_680
    /// Topic config defaults, keyed by topic config name (`retention.ms`), set from the broker names.
    public var topicDefaults: [String: String] = [:]
    /// Keys that were given but are not broker configs of this broker.
    public var ignoredKeys: [String] = []

    public init() {}

    /// Settings from `server.properties`-style keys. Bad values are INVALID_CONFIG errors naming the key.
    public init(properties: [String: String]) throws(BrokerError) {
        let topicKeyForBrokerKey = Dictionary(
            TopicConfigs.brokerSynonyms.map { ($0.value, $0.key) },
            uniquingKeysWith: { first, _ in first }
        )
        for (key, rawValue) in properties.sorted(by: { $0.key < $1.key }) {
            let value = rawValue.trimmingWhitespace()
            switch key {
            case "node.id", "broker.id": nodeId = Int32(try TopicConfigs.int(key, value, atLeast: 0))
            case "num.partitions": numPartitions = Int32(try TopicConfigs.int(key, value, atLeast: 1))
            case "default.replication.factor":
                let factor = try TopicConfigs.int(key, value, atLeast: 1)
                guard factor == 1 else {
                    throw BrokerError(
                        .invalidReplicationFactor,
                        "Invalid value \(value) for configuration default.replication.factor: this cluster has one broker"
                    )
                }
                defaultReplicationFactor = 1
            case "auto.create.topics.enable": autoCreateTopicsEnable = try Self.bool(key, value)
            case "delete.topic.enable": deleteTopicEnable = try Self.bool(key, value)
            case "offsets.topic.num.partitions":
                offsetsTopicNumPartitions = Int32(try TopicConfigs.int(key, value, atLeast: 1))
            case "offsets.topic.segment.bytes":
                offsetsTopicSegmentBytes = Int(try TopicConfigs.int(key, value, atLeast: 14))
            case "offsets.retention.minutes": offsetsRetentionMinutes = try TopicConfigs.int(key, value, atLeast: 1)
            case "offsets.retention.check.interval.ms":
                offsetsRetentionCheckIntervalMs = try TopicConfigs.int(key, value, atLeast: 1)
            case "offset.metadata.max.bytes": offsetMetadataMaxBytes = Int(try TopicConfigs.int(key, value, atLeast: 0))
            case "group.initial.rebalance.delay.ms":
                groupInitialRebalanceDelayMs = try TopicConfigs.int(key, value, atLeast: 0)
            case "group.min.session.timeout.ms": groupMinSessionTimeoutMs = try TopicConfigs.int(key, value, atLeast: 0)
            case "group.max.session.timeout.ms": groupMaxSessionTimeoutMs = try TopicConfigs.int(key, value, atLeast: 0)
            case "group.max.size": groupMaxSize = Int(try TopicConfigs.int(key, value, atLeast: 1))
            case "fetch.max.bytes": fetchMaxBytes = Int(try TopicConfigs.int(key, value, atLeast: 1024))
            case "log.retention.hours", "log.retention.minutes":
                // log.retention.ms wins over log.retention.minutes, which wins over log.retention.hours (Kafka).
                let hours = key == "log.retention.hours"
                let amount = try TopicConfigs.int(key, value, atLeast: -1)
                let overridden =
                    properties["log.retention.ms"] != nil || (hours && properties["log.retention.minutes"] != nil)
                if !overridden {
                    topicDefaults["retention.ms"] = amount < 0 ? "-1" : String(amount * (hours ? 3_600_000 : 60_000))
                }
            case "log.roll.hours":
                if properties["log.roll.ms"] == nil {
                    topicDefaults["segment.ms"] = String(try TopicConfigs.int(key, value, atLeast: 1) * 3_600_000)
                }
            default:
                guard let topicKey = topicKeyForBrokerKey[key] else {
                    ignoredKeys.append(key)
                    continue
                }
                do {
                    try TopicConfigs.validate(topicKey, value)
                } catch {
                    // Name the broker key the user wrote.
                    throw BrokerError(.invalidConfig, "\(key) (topic config \(topicKey)): \(error.message)")
                }
                topicDefaults[topicKey] = value
            }
        }
        if groupMinSessionTimeoutMs > groupMaxSessionTimeoutMs {
            throw BrokerError(
                .invalidConfig,
                "group.min.session.timeout.ms (\(groupMinSessionTimeoutMs)) is larger than group.max.session.timeout.ms (\(groupMaxSessionTimeoutMs))"
            )
        }
    }

    private static func bool(_ key: String, _ value: String) throws(BrokerError) -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default:
            throw BrokerError(
                .invalidConfig,
                "Invalid value \(value) for configuration \(key): Expected value to be either true or false"
            )
        }
    }

    /// Parses Java properties text (`key=value` or `key: value` lines, `#`/`!` comments).
    public static func parseProperties(_ text: String) throws(BrokerError) -> [String: String] {
        var result: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw BrokerError(.invalidConfig, "line \(number + 1): expected key=value, found '\(line)'")
            }
            let key = line[..<separator].trimmingWhitespace()
            let value = line[line.index(after: separator)...].trimmingWhitespace()
            guard !key.isEmpty else { throw BrokerError(.invalidConfig, "line \(number + 1): empty key") }
            result[key] = value
        }
        return result
    }

    /// The broker-level settings under their Kafka names (topic defaults included).
    private var settings: [String: String] {
        var settings = [
            "node.id": String(nodeId),
            "num.partitions": String(numPartitions),
            "default.replication.factor": String(defaultReplicationFactor),
            "auto.create.topics.enable": String(autoCreateTopicsEnable),
            "delete.topic.enable": String(deleteTopicEnable),
            "offsets.topic.num.partitions": String(offsetsTopicNumPartitions),
            "offsets.topic.segment.bytes": String(offsetsTopicSegmentBytes),
            "offsets.retention.minutes": String(offsetsRetentionMinutes),
            "offsets.retention.check.interval.ms": String(offsetsRetentionCheckIntervalMs),
            "offset.metadata.max.bytes": String(offsetMetadataMaxBytes),
            "group.initial.rebalance.delay.ms": String(groupInitialRebalanceDelayMs),
            "group.min.session.timeout.ms": String(groupMinSessionTimeoutMs),
            "group.max.session.timeout.ms": String(groupMaxSessionTimeoutMs),
            "group.max.size": String(groupMaxSize),
            "fetch.max.bytes": String(fetchMaxBytes),
        ]
        for (topicKey, brokerKey) in TopicConfigs.brokerSynonyms {
            if let value = topicDefaults[topicKey] ?? TopicConfigs.builtInDefault(topicKey) {
                settings[brokerKey] = value
            }
        }
        return settings
    }

    /// The broker's settings as Kafka's DescribeConfigs for a broker shows them: a value that differs from the
    /// built-in default is a static broker config.
    public func describe() -> [ConfigEntry] {
        let defaults = BrokerConfig().settings
        return settings.sorted { $0.key < $1.key }.map { name, value in
            let source: ConfigSource = defaults[name] == value ? .defaultConfig : .staticBrokerConfig
            return ConfigEntry(
                name: name,
                value: value,
                source: source,
                isReadOnly: true,
                isSensitive: false,
                synonyms: [ConfigSynonym(name: name, value: value, source: source)]
            )
        }
    }
}
