/// `org.apache.kafka.connect.transforms.HeaderFrom`: copies or moves fields of the key or value into headers, the
/// n-th of `fields` into the n-th of `headers`. A record with a null value (a tombstone) passes unchanged.
struct HeaderFrom: KeyValueTransformCore {
    enum Operation: String, Sendable {
        case move, copy
    }

    static let configDef = ConfigDef([
        ConfigKey(
            "fields",
            .list,
            required: true,
            importance: .high,
            validator: Validators.nonEmptyList,
            "Field names in the record whose values are to be copied or moved to headers."
        ),
        ConfigKey(
            "headers",
            .list,
            required: true,
            importance: .high,
            validator: Validators.nonEmptyList,
            "Header names, in the same order as the field names listed in the fields configuration property."
        ),
        ConfigKey(
            "operation",
            .string,
            required: true,
            importance: .high,
            recommended: ["move", "copy"],
            validator: Validators.oneOf(["move", "copy"], caseInsensitive: false),
            "Either <code>move</code> if the fields are to be moved to the headers (removed from the key/value), or "
                + "<code>copy</code> if the fields are to be copied to the headers (retained in the key/value)."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    let part: RecordPart
    let fields: [String]
    let headers: [String]
    let operation: Operation
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        fields = try SMTSupport.requiredList(config, "fields")
        headers = try SMTSupport.requiredList(config, "headers")
        if fields.count != headers.count {
            throw .config("'fields' config must have the same number of elements as 'headers' config.")
        }
        let name = try SMTSupport.required(config, "operation")
        guard let operation = Operation(rawValue: name) else {
            throw .config("Invalid value \(name) for configuration operation: String must be one of: move, copy")
        }
        self.operation = operation
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        if record.value.isNull { return record }
        let value = part.value(of: record)
        let purpose = "header \(operation.rawValue)"
        var updatedRecord = record
        guard let schema = part.schema(of: record) else {
            let object = try SMTSupport.requireMap(value, purpose: purpose)
            var updated = object
            for (field, header) in zip(fields, headers) {
                if operation == .move { updated[field] = nil }
                updatedRecord.headers.append(ConnectHeader(key: header, schema: nil, value: object[field] ?? .null))
            }
            return part.replacing(in: updatedRecord, schema: nil, value: .object(updated))
        }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: purpose)
        for (field, header) in zip(fields, headers) {
            guard let schemaField = schema.field(field) else { throw .data("\(field) is not a valid field name") }
            let fieldValue = SMTSupport.fieldValue(object, schemaField, replaceNullWithDefault: replaceNullWithDefault)
            updatedRecord.headers.append(ConnectHeader(key: header, schema: schemaField.schema, value: fieldValue))
        }
        guard operation == .move else { return updatedRecord }
        var updatedSchema = SMTSupport.structBasics(of: schema)
        var updated = ConnectObject()
        for field in schema.fields where !fields.contains(field.name) {
            updatedSchema.fields.append(field)
            updated[field.name] = SMTSupport.fieldValue(object, field, replaceNullWithDefault: replaceNullWithDefault)
        }
        return part.replacing(in: updatedRecord, schema: updatedSchema, value: .object(updated))
    }
}

/// `org.apache.kafka.connect.transforms.HeaderFrom$Key`.
struct HeaderFromKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: HeaderFrom
}

/// `org.apache.kafka.connect.transforms.HeaderFrom$Value`.
struct HeaderFromValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: HeaderFrom
}
