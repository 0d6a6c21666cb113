/// `org.apache.kafka.connect.transforms.InsertField`: inserts the record's topic, partition, offset or timestamp, or a
/// static string, as fields of the key or value. A null key or value (a tombstone) passes unchanged.
struct InsertField: KeyValueTransformCore {
    struct Spec: Sendable, Hashable {
        let name: String
        let optional: Bool

        /// `name!` is a required field, `name?` (or plain `name`) an optional one.
        static func parse(_ text: String?) -> Spec? {
            guard let text, !text.isEmpty else { return nil }
            if text.hasSuffix("?") { return Spec(name: String(text.dropLast()), optional: true) }
            if text.hasSuffix("!") { return Spec(name: String(text.dropLast()), optional: false) }
            return Spec(name: text, optional: true)
        }
    }

    private static let optionalityDoc =
        "Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional (the default)."

    static let configDef = ConfigDef([
        ConfigKey("topic.field", .string, importance: .medium, "Field name for Kafka topic. " + optionalityDoc),
        ConfigKey("partition.field", .string, importance: .medium, "Field name for Kafka partition. " + optionalityDoc),
        ConfigKey(
            "offset.field",
            .string,
            importance: .medium,
            "Field name for Kafka offset - only applicable to sink connectors.<br/>" + optionalityDoc
        ),
        ConfigKey(
            "timestamp.field",
            .string,
            importance: .medium,
            "Field name for record timestamp. " + optionalityDoc
        ),
        ConfigKey("static.field", .string, importance: .medium, "Field name for static data field. " + optionalityDoc),
        ConfigKey("static.value", .string, importance: .medium, "Static field value, if field name configured."),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "field insertion"

    let part: RecordPart
    let topicField: Spec?
    let partitionField: Spec?
    let offsetField: Spec?
    let timestampField: Spec?
    let staticField: Spec?
    let staticValue: String?
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        topicField = Spec.parse(config.nonEmpty("topic.field"))
        partitionField = Spec.parse(config.nonEmpty("partition.field"))
        offsetField = Spec.parse(config.nonEmpty("offset.field"))
        timestampField = Spec.parse(config.nonEmpty("timestamp.field"))
        staticField = Spec.parse(config.nonEmpty("static.field"))
        staticValue = config.string("static.value")
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
        if topicField == nil && partitionField == nil && offsetField == nil && timestampField == nil
            && staticField == nil
        {
            throw .config("No field insertion configured")
        }
        if let staticField, staticValue == nil {
            throw .config(
                "Invalid value null for configuration static.value: No value specified for static field: "
                    + staticField.name
            )
        }
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        if value.isNull { return record }
        let insertions = try self.insertions(for: record)
        guard let schema = part.schema(of: record) else {
            var updated = try SMTSupport.requireMap(value, purpose: Self.purpose)
            for (name, _, inserted) in insertions where !inserted.isNull {
                updated[name] = inserted
            }
            return part.replacing(in: record, schema: nil, value: .object(updated))
        }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        var updatedSchema = SMTSupport.structBasics(of: schema)
        var updated = ConnectObject()
        for field in schema.fields {
            try SMTSupport.addField(field.name, field.schema, to: &updatedSchema)
            updated[field.name] = SMTSupport.fieldValue(object, field, replaceNullWithDefault: replaceNullWithDefault)
        }
        for (name, fieldSchema, inserted) in insertions {
            try SMTSupport.addField(name, fieldSchema, to: &updatedSchema)
            updated[name] = inserted
        }
        return part.replacing(in: record, schema: updatedSchema, value: .object(updated))
    }

    /// The fields to insert, in Kafka's order, with their schemas; a value is null when the record lacks it.
    private func insertions(
        for record: ConnectRecord
    ) throws(ConnectError) -> [(name: String, schema: ConnectSchema, value: ConnectValue)] {
        var result: [(name: String, schema: ConnectSchema, value: ConnectValue)] = []
        if let topicField {
            let schema = ConnectSchema(.string, optional: topicField.optional)
            result.append((topicField.name, schema, .string(record.topic)))
        }
        if let partitionField {
            let value: ConnectValue = record.kafkaPartition.map { ConnectValue.int(Int64($0)) } ?? .null
            result.append((partitionField.name, ConnectSchema(.int32, optional: partitionField.optional), value))
        }
        if let offsetField {
            guard let offset = record.kafkaOffset else {
                throw .data(
                    "Only SinkRecord supported for [\(Self.purpose)], found: "
                        + "org.apache.kafka.connect.source.SourceRecord"
                )
            }
            result.append((offsetField.name, ConnectSchema(.int64, optional: offsetField.optional), .int(offset)))
        }
        if let timestampField {
            let value: ConnectValue = record.timestamp.map { ConnectValue.int($0) } ?? .null
            result.append(
                (timestampField.name, SMTSupport.timestampSchema(optional: timestampField.optional), value)
            )
        }
        if let staticField, let staticValue {
            result.append(
                (staticField.name, ConnectSchema(.string, optional: staticField.optional), .string(staticValue))
            )
        }
        return result
    }
}

/// `org.apache.kafka.connect.transforms.InsertField$Key`.
struct InsertFieldKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: InsertField
}

/// `org.apache.kafka.connect.transforms.InsertField$Value`.
struct InsertFieldValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: InsertField
}
