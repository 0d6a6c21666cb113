/// `org.apache.kafka.connect.transforms.ValueToKey`: replaces the key with a struct (with a value schema) or a map
/// (schemaless) of the listed fields of the value.
struct ValueToKey: Transformation {
    static let configDef = ConfigDef([
        ConfigKey(
            "fields",
            .list,
            required: true,
            importance: .high,
            validator: Validators.nonEmptyList,
            "Field names on the record value to extract as the record key."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "copying fields from value to key"

    let fields: [String]
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig) throws(ConnectError) {
        fields = try SMTSupport.requiredList(config, "fields")
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        var record = record
        guard let schema = record.valueSchema else {
            let value = try SMTSupport.requireMap(record.value, purpose: Self.purpose)
            var key = ConnectObject()
            for field in fields {
                key[field] = value[field] ?? .null
            }
            record.keySchema = nil
            record.key = .object(key)
            return record
        }
        let value = try SMTSupport.requireStruct(record.value, schema: schema, purpose: Self.purpose)
        var keySchema = ConnectSchema(.struct)
        var key = ConnectObject()
        for name in fields {
            guard let field = schema.field(name) else { throw .data("Field does not exist: \(name)") }
            try SMTSupport.addField(name, field.schema, to: &keySchema)
            key[name] = SMTSupport.fieldValue(value, field, replaceNullWithDefault: replaceNullWithDefault)
        }
        record.keySchema = keySchema
        record.key = .object(key)
        return record
    }
}
