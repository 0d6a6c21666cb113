/// `org.apache.kafka.connect.transforms.HoistField`: wraps the key or value in a struct (with a schema) or a map
/// (schemaless) with a single field.
struct HoistField: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey(
            "field",
            .string,
            required: true,
            importance: .medium,
            "Field name for the single field that will be created in the resulting Struct or Map."
        )
    ])

    let part: RecordPart
    let field: String

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        field = try SMTSupport.required(config, "field")
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        let hoisted = ConnectValue.object(ConnectObject([ConnectObject.Member(field, value)]))
        guard let schema = part.schema(of: record) else {
            return part.replacing(in: record, schema: nil, value: hoisted)
        }
        let updatedSchema = ConnectSchema(.struct, fields: [ConnectSchema.Field(field, schema)])
        return part.replacing(in: record, schema: updatedSchema, value: hoisted)
    }
}

/// `org.apache.kafka.connect.transforms.HoistField$Key`.
struct HoistFieldKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: HoistField
}

/// `org.apache.kafka.connect.transforms.HoistField$Value`.
struct HoistFieldValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: HoistField
}
