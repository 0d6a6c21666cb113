/// `org.apache.kafka.connect.transforms.Filter`: drops every record it sees, so it is used with a predicate (and
/// maybe `negate`) to drop the records that match.
struct Filter: Transformation {
    static let configDef = ConfigDef()

    init(config: ParsedConfig) throws(ConnectError) {}

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? { nil }
}
