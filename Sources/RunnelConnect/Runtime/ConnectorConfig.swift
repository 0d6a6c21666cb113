import Foundation

/// The keys every connector takes (Kafka's `ConnectorConfig`, `SinkConnectorConfig` and `SourceConnectorConfig`),
/// and the plugins that the `*.converter`, `transforms.*.type` and `predicates.*.type` keys name.
public enum ConnectorConfig {
    public static let common = "Common"
    public static let transformsGroup = "Transforms"
    public static let predicatesGroup = "Predicates"
    public static let errorsGroup = "Error Handling"

    static let converterClasses = [
        "org.apache.kafka.connect.json.JsonConverter", "org.apache.kafka.connect.storage.StringConverter",
        "org.apache.kafka.connect.converters.ByteArrayConverter",
    ]

    public static func definition(for type: ConnectorType) -> ConfigDef {
        var keys: [ConfigKey] = [
            ConfigKey(
                "name",
                .string,
                required: true,
                importance: .high,
                group: common,
                order: 1,
                width: .medium,
                displayName: "Connector name",
                validator: { $0.trimmingCharacters(in: .whitespaces).isEmpty ? "String must be non-empty" : nil },
                "Globally unique name to use for this connector."
            ),
            ConfigKey(
                "connector.class",
                .string,
                required: true,
                importance: .high,
                group: common,
                order: 2,
                width: .long,
                displayName: "Connector class",
                "Name or alias of the class for this connector. Must be a subclass of org.apache.kafka.connect.connector.Connector."
            ),
            ConfigKey(
                "tasks.max",
                .int,
                default: "1",
                importance: .high,
                group: common,
                order: 3,
                width: .short,
                displayName: "Tasks max",
                validator: Validators.atLeast(1),
                "Maximum number of tasks to use for this connector."
            ),
            ConfigKey(
                "key.converter",
                .class,
                importance: .low,
                group: common,
                order: 5,
                width: .short,
                displayName: "Key converter class",
                recommended: converterClasses,
                validator: {
                    converterClasses.contains($0) || aliasFor($0) != nil ? nil : "Class \($0) could not be found."
                },
                "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Defaults to the worker's JsonConverter."
            ),
            ConfigKey(
                "value.converter",
                .class,
                importance: .low,
                group: common,
                order: 6,
                width: .short,
                displayName: "Value converter class",
                recommended: converterClasses,
                validator: {
                    converterClasses.contains($0) || aliasFor($0) != nil ? nil : "Class \($0) could not be found."
                },
                "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Defaults to the worker's JsonConverter."
            ),
            ConfigKey(
                "header.converter",
                .class,
                importance: .low,
                group: common,
                order: 7,
                width: .short,
                displayName: "Header converter class",
                "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. Runnel reads and writes headers as UTF-8 text (SimpleHeaderConverter)."
            ),
            ConfigKey(
                "config.action.reload",
                .string,
                default: "restart",
                importance: .low,
                group: common,
                order: 8,
                width: .medium,
                displayName: "Reload action",
                validator: Validators.oneOf(["none", "restart"]),
                "The action Connect should take on the connector when changes in external configuration providers result in a change in the connector's configuration properties."
            ),
            ConfigKey(
                "offset.flush.interval.ms",
                .long,
                default: "60000",
                importance: .low,
                group: common,
                order: 9,
                width: .short,
                displayName: "Offset flush interval",
                validator: Validators.atLeast(1),
                "Interval at which the offsets of a sink task are committed (after the task has made its data durable). Source offsets are committed as soon as their records are acknowledged."
            ),
            ConfigKey(
                "transforms",
                .list,
                default: "",
                importance: .low,
                group: transformsGroup,
                order: 1,
                width: .long,
                displayName: "Transforms",
                "Aliases for the transformations to be applied to records."
            ),
            ConfigKey(
                "predicates",
                .list,
                default: "",
                importance: .low,
                group: predicatesGroup,
                order: 1,
                width: .long,
                displayName: "Predicates",
                "Aliases for the predicates used by transformations."
            ),
            ConfigKey(
                "errors.retry.timeout",
                .long,
                default: "0",
                importance: .medium,
                group: errorsGroup,
                order: 1,
                width: .medium,
                displayName: "Retry Timeout for Errors",
                validator: Validators.atLeast(-1),
                "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which means no retries will be attempted. Use -1 for infinite retries."
            ),
            ConfigKey(
                "errors.retry.delay.max.ms",
                .long,
                default: "60000",
                importance: .medium,
                group: errorsGroup,
                order: 2,
                width: .medium,
                displayName: "Maximum Delay Between Retries for Errors",
                validator: Validators.atLeast(1),
                "The maximum duration in milliseconds between consecutive retry attempts. Jitter will be added to the delay once this limit is reached to prevent thundering herd issues."
            ),
            ConfigKey(
                "errors.tolerance",
                .string,
                default: "none",
                importance: .medium,
                group: errorsGroup,
                order: 3,
                width: .short,
                displayName: "Error Tolerance",
                validator: Validators.oneOf(["none", "all"]),
                "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records."
            ),
            ConfigKey(
                "errors.log.enable",
                .boolean,
                default: "false",
                importance: .medium,
                group: errorsGroup,
                order: 4,
                width: .short,
                displayName: "Log Errors",
                "If true, write each error and the details of the failed operation and problematic record to the Connect application log."
            ),
            ConfigKey(
                "errors.log.include.messages",
                .boolean,
                default: "false",
                importance: .medium,
                group: errorsGroup,
                order: 5,
                width: .short,
                displayName: "Log Error Details",
                "Whether to include in the log the Connect record that resulted in a failure."
            ),
        ]
        switch type {
        case .sink:
            keys += [
                ConfigKey(
                    "topics",
                    .list,
                    default: "",
                    importance: .high,
                    group: common,
                    order: 4,
                    width: .long,
                    displayName: "Topics",
                    "List of topics to consume, separated by commas"
                ),
                ConfigKey(
                    "topics.regex",
                    .string,
                    default: "",
                    importance: .high,
                    group: common,
                    order: 4,
                    width: .long,
                    displayName: "Topics regex",
                    validator: { (try? Regex($0)) == nil ? "Invalid regular expression" : nil },
                    "Regular expression giving topics to consume. Under the hood, the regex is compiled to a pattern, and topics that fully match it are consumed."
                ),
                ConfigKey(
                    "errors.deadletterqueue.topic.name",
                    .string,
                    default: "",
                    importance: .medium,
                    group: errorsGroup,
                    order: 6,
                    width: .medium,
                    displayName: "Dead Letter Queue Topic Name",
                    "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector, or its transformations or converters. The topic name is blank by default, which means that no messages are to be recorded in the DLQ."
                ),
                ConfigKey(
                    "errors.deadletterqueue.topic.replication.factor",
                    .short,
                    default: "3",
                    importance: .medium,
                    group: errorsGroup,
                    order: 7,
                    width: .medium,
                    displayName: "Dead Letter Queue Topic Replication Factor",
                    "Replication factor used to create the dead letter queue topic when it doesn't already exist (capped at the cluster's size)."
                ),
                ConfigKey(
                    "errors.deadletterqueue.context.headers.enable",
                    .boolean,
                    default: "false",
                    importance: .medium,
                    group: errorsGroup,
                    order: 8,
                    width: .medium,
                    displayName: "Enable Error Context Headers",
                    "If true, add headers containing error context to the messages written to the dead letter queue. To avoid clashing with headers from the original record, all error context header keys, all error context header keys will start with __connect.errors."
                ),
            ]
        case .source:
            keys += [
                ConfigKey(
                    "topic.creation.default.partitions",
                    .int,
                    default: "-1",
                    importance: .low,
                    group: "Topic Creation",
                    order: 1,
                    width: .short,
                    displayName: "Partitions for new topics",
                    "Partitions of the topics this connector creates; -1 uses the broker's num.partitions. Runnel creates missing topics on first write."
                )
            ]
        }
        return ConfigDef(keys)
    }

    /// The full class name of a converter given by class name or simple name.
    static func aliasFor(_ name: String) -> String? {
        converterClasses.first { $0 == name || $0.hasSuffix("." + name) }
    }

    /// A converter named by `key.converter`/`value.converter` (or the worker's default), configured with the
    /// keys under its prefix.
    public static func converter(
        _ config: [String: String],
        isKey: Bool,
        defaults: [String: String]
    ) throws(ConnectError) -> any Converter {
        let prefix = isKey ? "key.converter" : "value.converter"
        let className = config[prefix] ?? defaults[prefix] ?? "org.apache.kafka.connect.json.JsonConverter"
        var settings: [String: String] = [:]
        for (key, value) in defaults where key.hasPrefix(prefix + ".") {
            settings[String(key.dropFirst(prefix.count + 1))] = value
        }
        for (key, value) in config where key.hasPrefix(prefix + ".") {
            settings[String(key.dropFirst(prefix.count + 1))] = value
        }
        switch aliasFor(className) {
        case "org.apache.kafka.connect.json.JsonConverter": return try JsonConverter(config: settings, isKey: isKey)
        case "org.apache.kafka.connect.storage.StringConverter":
            return try StringConverter(config: settings, isKey: isKey)
        case "org.apache.kafka.connect.converters.ByteArrayConverter":
            return try ByteArrayConverter(config: settings, isKey: isKey)
        default:
            throw .config(
                "Invalid value \(className) for configuration \(prefix): Class \(className) could not be found."
            )
        }
    }

    /// A converter's Kafka class name (as error logs and the dead letter queue's headers show it).
    static func className(of converter: any Converter) -> String {
        switch converter {
        case is JsonConverter: "org.apache.kafka.connect.json.JsonConverter"
        case is StringConverter: "org.apache.kafka.connect.storage.StringConverter"
        case is ByteArrayConverter: "org.apache.kafka.connect.converters.ByteArrayConverter"
        default: "\(type(of: converter))"
        }
    }

    /// Whether a key's value is a secret: declared as a password, or named like one.
    public static func isSecret(_ key: String, definition: ConfigDef?) -> Bool {
        let lower = key.lowercased()
        return lower.contains("password") || lower.contains("secret") || definition?.key(key)?.type == .password
    }

    /// The config as shown by the API and in logs: secrets as `[hidden]`.
    public static func redacted(_ config: [String: String], definition: ConfigDef?) -> [String: String] {
        var shown = config
        for key in config.keys where isSecret(key, definition: definition) { shown[key] = "[hidden]" }
        return shown
    }
}
