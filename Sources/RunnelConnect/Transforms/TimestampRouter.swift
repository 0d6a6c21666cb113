import Foundation

/// `org.apache.kafka.connect.transforms.TimestampRouter`: routes a record to a topic named from its topic and its
/// timestamp (UTC), e.g. `orders-20240131`.
struct TimestampRouter: Transformation {
    static let configDef = ConfigDef([
        ConfigKey(
            "topic.format",
            .string,
            default: "${topic}-${timestamp}",
            importance: .high,
            "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as placeholders for "
                + "the topic and timestamp, respectively."
        ),
        ConfigKey(
            "timestamp.format",
            .string,
            default: "yyyyMMdd",
            importance: .high,
            validator: { value in
                SMTDateFormat.translate(value) == nil ? "Invalid SimpleDateFormat pattern: \(value)" : nil
            },
            "Format string for the timestamp that is compatible with <code>java.text.SimpleDateFormat</code>."
        ),
    ])

    let topicFormat: String
    let timestampFormat: SMTDateFormat

    init(config: ParsedConfig) throws(ConnectError) {
        topicFormat = config.string("topic.format") ?? "${topic}-${timestamp}"
        let pattern = config.string("timestamp.format") ?? "yyyyMMdd"
        guard let format = SMTDateFormat(javaPattern: pattern) else {
            throw .config(
                "Invalid value \(pattern) for configuration timestamp.format: Invalid SimpleDateFormat pattern: "
                    + pattern
            )
        }
        timestampFormat = format
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        guard let timestamp = record.timestamp else {
            throw .data("Timestamp missing on record: topic=\(record.topic)")
        }
        var routed = record
        routed.topic =
            topicFormat
            .replacingOccurrences(of: "${topic}", with: record.topic)
            .replacingOccurrences(of: "${timestamp}", with: timestampFormat.format(milliseconds: timestamp))
        return routed
    }
}
