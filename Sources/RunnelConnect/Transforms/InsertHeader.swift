/// `org.apache.kafka.connect.transforms.InsertHeader`: adds a header with a literal string value to every record.
struct InsertHeader: Transformation {
    static let configDef = ConfigDef([
        ConfigKey(
            "header",
            .string,
            required: true,
            importance: .high,
            validator: Validators.nonEmpty,
            "The name of the header."
        ),
        ConfigKey(
            "value.literal",
            .string,
            required: true,
            importance: .high,
            "The literal value that is to be set as the header value on all records."
        ),
    ])

    let header: String
    let value: String

    init(config: ParsedConfig) throws(ConnectError) {
        header = try SMTSupport.required(config, "header")
        guard let value = config.string("value.literal") else {
            throw .config("Missing required configuration \"value.literal\" which has no default value.")
        }
        self.value = value
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        var record = record
        record.headers.append(ConnectHeader(key: header, schema: .string, value: .string(value)))
        return record
    }
}
