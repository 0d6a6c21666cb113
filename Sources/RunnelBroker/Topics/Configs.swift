import RunnelBrokerAPI
import RunnelLog
import RunnelRecords

/// The topic configs this broker accepts: the log engine's, plus `min.insync.replicas` and Kafka configs that have
/// no effect on one node without replication or tiered storage (accepted so existing scripts keep working).
enum TopicConfigs {
    /// Topic config → the broker config that sets its default (Kafka's synonyms).
    static let brokerSynonyms: [String: String] = [
        "cleanup.policy": "log.cleanup.policy",
        "compression.type": "compression.type",
        "delete.retention.ms": "log.cleaner.delete.retention.ms",
        "file.delete.delay.ms": "log.segment.delete.delay.ms",
        "flush.messages": "log.flush.interval.messages",
        "flush.ms": "log.flush.interval.ms",
        "index.interval.bytes": "log.index.interval.bytes",
        "max.compaction.lag.ms": "log.cleaner.max.compaction.lag.ms",
        "max.message.bytes": "message.max.bytes",
        "message.timestamp.after.max.ms": "log.message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms": "log.message.timestamp.before.max.ms",
        "message.timestamp.type": "log.message.timestamp.type",
        "min.cleanable.dirty.ratio": "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms": "log.cleaner.min.compaction.lag.ms",
        "min.insync.replicas": "min.insync.replicas",
        "preallocate": "log.preallocate",
        "retention.bytes": "log.retention.bytes",
        "retention.ms": "log.retention.ms",
        "segment.bytes": "log.segment.bytes",
        "segment.index.bytes": "log.index.size.max.bytes",
        "segment.jitter.ms": "log.roll.jitter.ms",
        "segment.ms": "log.roll.ms",
        "unclean.leader.election.enable": "unclean.leader.election.enable",
    ]

    /// Configs kept and described but without effect on a single node, with their Kafka defaults.
    static let inertDefaults: [String: String] = [
        "file.delete.delay.ms": "60000",
        "follower.replication.throttled.replicas": "",
        "leader.replication.throttled.replicas": "",
        "message.downconversion.enable": "true",
        "preallocate": "false",
        "unclean.leader.election.enable": "false",
    ]

    static let minInsyncReplicasDefault = "1"

    /// Every topic config name, sorted.
    static let names: [String] = (Set(LogConfig.keys).union(inertDefaults.keys).union(["min.insync.replicas"]))
        .sorted()

    /// The built-in default of a config (before broker overrides).
    static func builtInDefault(_ name: String) -> String? {
        if name == "min.insync.replicas" { return minInsyncReplicasDefault }
        if let inert = inertDefaults[name] { return inert }
        return LogConfig().properties[name]
    }

    /// Checks one value; throws INVALID_CONFIG naming the key and the problem.
    static func validate(_ name: String, _ value: String) throws(BrokerError) {
        if LogConfig.keys.contains(name) {
            do {
                _ = try LogConfig().applying([name: value])
            } catch {
                throw BrokerError(.invalidConfig, error.message)
            }
            return
        }
        switch name {
        case "min.insync.replicas":
            try int(name, value, atLeast: 1)
        case "file.delete.delay.ms":
            try int(name, value, atLeast: 0)
        case "preallocate", "unclean.leader.election.enable", "message.downconversion.enable":
            guard ["true", "false"].contains(value.lowercased()) else {
                throw BrokerError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration \(name): Expected value to be either true or false"
                )
            }
        case "follower.replication.throttled.replicas", "leader.replication.throttled.replicas":
            // A list of partition:broker pairs or "*"; validated by shape only.
            let valid = value.split(separator: ",").allSatisfy { item in
                let trimmed = item.trimmingWhitespace()
                return trimmed == "*" || trimmed.split(separator: ":").count == 2
            }
            guard valid else {
                throw BrokerError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration \(name): must be a list of [partitionId]:[brokerId] or the wildcard '*'"
                )
            }
        default:
            throw BrokerError(.invalidConfig, "Unknown topic config name: \(name)")
        }
    }

    @discardableResult
    static func int(_ name: String, _ value: String, atLeast minimum: Int64) throws(BrokerError) -> Int64 {
        guard let number = Int64(value.trimmingWhitespace()) else {
            throw BrokerError(.invalidConfig, "Invalid value \(value) for configuration \(name): Not a number")
        }
        guard number >= minimum else {
            throw BrokerError(
                .invalidConfig,
                "Invalid value \(value) for configuration \(name): Value must be at least \(minimum)"
            )
        }
        return number
    }

    /// The log engine config of a topic: built-in defaults, then broker defaults, then the topic's overrides.
    static func logConfig(
        brokerDefaults: [String: String],
        overrides: [String: String]
    ) throws(BrokerError)
        -> LogConfig
    {
        let logKeys = Set(LogConfig.keys)
        do {
            return try LogConfig()
                .applying(brokerDefaults.filter { logKeys.contains($0.key) })
                .applying(overrides.filter { logKeys.contains($0.key) })
        } catch {
            throw BrokerError(.invalidConfig, error.message)
        }
    }

    /// The effective value of a config for a topic.
    static func value(_ name: String, brokerDefaults: [String: String], overrides: [String: String]) -> String? {
        overrides[name] ?? brokerDefaults[name] ?? builtInDefault(name)
    }

    /// Every config of a topic, as Kafka's DescribeConfigs shows them.
    static func describe(brokerDefaults: [String: String], overrides: [String: String]) -> [ConfigEntry] {
        names.map { name in
            var synonyms: [ConfigSynonym] = []
            if let value = overrides[name] {
                synonyms.append(ConfigSynonym(name: name, value: value, source: .dynamicTopicConfig))
            }
            if let value = brokerDefaults[name], let brokerName = brokerSynonyms[name] {
                synonyms.append(ConfigSynonym(name: brokerName, value: value, source: .staticBrokerConfig))
            }
            if let value = builtInDefault(name) {
                synonyms.append(
                    ConfigSynonym(name: brokerSynonyms[name] ?? name, value: value, source: .defaultConfig)
                )
            }
            let winner = synonyms.first ?? ConfigSynonym(name: name, value: nil, source: .defaultConfig)
            return ConfigEntry(
                name: name,
                value: winner.value,
                source: winner.source,
                isReadOnly: false,
                isSensitive: false,
                synonyms: synonyms
            )
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line ends.
    func trimmingWhitespace() -> String {
        var result = Substring(self)
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return String(result)
    }
}
