/// `org.apache.kafka.connect.transforms.DropHeaders`: removes every header with one of the listed names.
struct DropHeaders: Transformation {
    static let configDef = ConfigDef([
        ConfigKey(
            "headers",
            .list,
            required: true,
            importance: .high,
            validator: Validators.nonEmptyList,
            "The name of the headers to be removed."
        )
    ])

    let headers: Set<String>

    init(config: ParsedConfig) throws(ConnectError) {
        headers = Set(try SMTSupport.requiredList(config, "headers"))
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        var record = record
        record.headers.removeAll { headers.contains($0.key) }
        return record
    }
}
