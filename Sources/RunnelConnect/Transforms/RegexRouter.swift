/// `org.apache.kafka.connect.transforms.RegexRouter`: when the regular expression matches the whole topic, the topic
/// becomes the replacement, with `$1`-style references to the expression's groups.
struct RegexRouter: Transformation {
    static let configDef = ConfigDef([
        ConfigKey(
            "regex",
            .string,
            required: true,
            importance: .high,
            validator: { value in SMTRegex.problem(value) },
            "Regular expression to use for matching."
        ),
        ConfigKey(
            "replacement",
            .string,
            required: true,
            importance: .high,
            "Replacement string."
        ),
    ])

    let regex: SMTRegex
    let replacement: String

    init(config: ParsedConfig) throws(ConnectError) {
        guard let pattern = config.string("regex") else {
            throw .config("Missing required configuration \"regex\" which has no default value.")
        }
        guard let replacement = config.string("replacement") else {
            throw .config("Missing required configuration \"replacement\" which has no default value.")
        }
        regex = try SMTRegex(wholeMatch: pattern)
        self.replacement = replacement
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        guard let topic = regex.replacingWholeMatch(record.topic, with: replacement) else { return record }
        var routed = record
        routed.topic = topic
        return routed
    }
}
