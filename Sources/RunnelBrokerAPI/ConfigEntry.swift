/// Where a config's value comes from, with Kafka's `ConfigSource` names.
public enum ConfigSource: String, Sendable, Hashable {
    case dynamicTopicConfig = "DYNAMIC_TOPIC_CONFIG"
    case staticBrokerConfig = "STATIC_BROKER_CONFIG"
    case defaultConfig = "DEFAULT_CONFIG"
}

/// One of the values a config could take, most specific first (Kafka's config synonyms).
public struct ConfigSynonym: Sendable, Hashable {
    public var name: String
    public var value: String?
    public var source: ConfigSource

    public init(
        name: String,
        value: String?,
        source: ConfigSource
    ) {
        self.name = name
        self.value = value
        self.source = source
    }
}

/// A described config (Kafka's DescribeConfigs entry).
public struct ConfigEntry: Sendable, Hashable {
    public var name: String
    public var value: String?
    public var source: ConfigSource
    public var isReadOnly: Bool
    public var isSensitive: Bool
    public var synonyms: [ConfigSynonym]

    public init(
        name: String,
        value: String?,
        source: ConfigSource,
        isReadOnly: Bool,
        isSensitive: Bool,
        synonyms: [ConfigSynonym]
    ) {
        self.name = name
        self.value = value
        self.source = source
        self.isReadOnly = isReadOnly
        self.isSensitive = isSensitive
        self.synonyms = synonyms
    }
    public var isDefault: Bool { source == .defaultConfig }
}

/// An incremental config change (Kafka's IncrementalAlterConfigs SET and DELETE).
public enum ConfigChange: Sendable, Hashable {
    /// Sets a topic-level override.
    case set(String, String)
    /// Removes an override: the topic goes back to the broker default.
    case delete(String)
}
