/// `org.apache.kafka.connect.transforms.SetSchemaMetadata`: sets the name and/or version of the key or value schema.
/// Schemaless data is an error.
struct SetSchemaMetadata: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey("schema.name", .string, importance: .high, "Schema name to set."),
        ConfigKey("schema.version", .int, importance: .high, "Schema version to set."),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    let part: RecordPart
    let schemaName: String?
    let schemaVersion: Int?

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        schemaName = config.nonEmpty("schema.name")
        if let text = config.nonEmpty("schema.version") {
            guard let version = Int32(text) else {
                throw .config("Invalid value \(text) for configuration schema.version: Not a number of type INT")
            }
            schemaVersion = Int(version)
        } else {
            schemaVersion = nil
        }
        if schemaName == nil && schemaVersion == nil {
            throw .config("Neither schema name nor version configured")
        }
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        var schema = try SMTSupport.requireSchema(part.schema(of: record), purpose: "updating schema metadata")
        if let schemaName { schema.name = schemaName }
        if let schemaVersion { schema.version = schemaVersion }
        return part.replacing(in: record, schema: schema, value: part.value(of: record))
    }
}

/// `org.apache.kafka.connect.transforms.SetSchemaMetadata$Key`.
struct SetSchemaMetadataKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: SetSchemaMetadata
}

/// `org.apache.kafka.connect.transforms.SetSchemaMetadata$Value`.
struct SetSchemaMetadataValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: SetSchemaMetadata
}
