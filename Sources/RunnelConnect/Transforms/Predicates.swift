import Foundation

/// `org.apache.kafka.connect.transforms.predicates.TopicNameMatches`: true when the regular expression matches the
/// whole topic name.
struct TopicNameMatches: TransformPredicate {
    static let configDef = ConfigDef([
        ConfigKey(
            "pattern",
            .string,
            required: true,
            importance: .medium,
            validator: { value in
                if value.trimmingCharacters(in: .whitespaces).isEmpty { return "String must be non-empty" }
                return SMTRegex.problem(value)
            },
            "A Java regular expression for matching against the name of a topic."
        )
    ])

    let regex: SMTRegex

    init(config: ParsedConfig) throws(ConnectError) {
        guard let pattern = config.string("pattern"), !pattern.isEmpty else {
            throw .config("Missing required configuration \"pattern\" which has no default value.")
        }
        regex = try SMTRegex(wholeMatch: pattern)
    }

    func test(_ record: ConnectRecord) -> Bool {
        regex.matches(record.topic)
    }
}

/// `org.apache.kafka.connect.transforms.predicates.HasHeaderKey`: true when the record has at least one header with
/// the name.
struct HasHeaderKey: TransformPredicate {
    static let configDef = ConfigDef([
        ConfigKey(
            "name",
            .string,
            required: true,
            importance: .medium,
            validator: Validators.nonEmpty,
            "The header name."
        )
    ])

    let name: String

    init(config: ParsedConfig) throws(ConnectError) {
        guard let name = config.string("name"), !name.isEmpty else {
            throw .config("Missing required configuration \"name\" which has no default value.")
        }
        self.name = name
    }

    func test(_ record: ConnectRecord) -> Bool {
        record.headers.contains { $0.key == name }
    }
}

/// `org.apache.kafka.connect.transforms.predicates.RecordIsTombstone`: true when the record's value is null.
struct RecordIsTombstone: TransformPredicate {
    static let configDef = ConfigDef()

    init(config: ParsedConfig) throws(ConnectError) {}

    func test(_ record: ConnectRecord) -> Bool {
        record.value.isNull
    }
}
