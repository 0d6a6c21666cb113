/// `org.apache.kafka.connect.transforms.Flatten`: flattens nested structs (with a schema) or maps (schemaless) into
/// one level, joining the names of each level with `delimiter`. Arrays (and maps, with a schema) are kept as they
/// are; a field under an optional struct becomes optional. A null key or value stays null.
struct Flatten: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey(
            "delimiter",
            .string,
            default: ".",
            importance: .medium,
            "Delimiter to insert between field names from the input record when generating field names for the "
                + "output record"
        )
    ])

    private static let purpose = "flattening"

    let part: RecordPart
    let delimiter: String

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        delimiter = config.string("delimiter") ?? "."
    }

    private func fieldName(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + delimiter + name
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        guard let schema = part.schema(of: record) else {
            if value.isNull { return record }
            let object = try SMTSupport.requireMap(value, purpose: Self.purpose)
            var flattened = ConnectObject()
            flattenSchemaless(object, prefix: "", into: &flattened)
            return part.replacing(in: record, schema: nil, value: .object(flattened))
        }
        var updatedSchema = SMTSupport.structBasics(of: schema)
        try flattenSchema(
            schema,
            prefix: "",
            into: &updatedSchema,
            optional: schema.optional,
            parentDefault: schema.defaultValue?.object
        )
        if value.isNull { return part.replacing(in: record, schema: updatedSchema, value: .null) }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        var leaves = ConnectObject()
        flattenStruct(object, schema: schema, prefix: "", into: &leaves)
        var flattened = ConnectObject()
        for field in updatedSchema.fields {
            flattened[field.name] = leaves[field.name] ?? .null
        }
        return part.replacing(in: record, schema: updatedSchema, value: .object(flattened))
    }

    private func flattenSchemaless(_ object: ConnectObject, prefix: String, into result: inout ConnectObject) {
        for member in object.members {
            let name = fieldName(prefix, member.name)
            if case .object(let nested) = member.value {
                flattenSchemaless(nested, prefix: name, into: &result)
            } else {
                result[name] = member.value
            }
        }
    }

    private func flattenSchema(
        _ schema: ConnectSchema,
        prefix: String,
        into result: inout ConnectSchema,
        optional: Bool,
        parentDefault: ConnectObject?
    ) throws(ConnectError) {
        for field in schema.fields {
            let name = fieldName(prefix, field.name)
            let fieldOptional = optional || field.schema.optional
            let fieldDefault = field.schema.defaultValue ?? parentDefault?[field.name]
            if field.schema.type == .struct {
                try flattenSchema(
                    field.schema,
                    prefix: name,
                    into: &result,
                    optional: fieldOptional,
                    parentDefault: fieldDefault?.object
                )
            } else {
                var flattened = field.schema
                flattened.optional = fieldOptional
                if let fieldDefault, !fieldDefault.isNull { flattened.defaultValue = fieldDefault }
                try SMTSupport.addField(name, flattened, to: &result)
            }
        }
    }

    private func flattenStruct(
        _ object: ConnectObject,
        schema: ConnectSchema,
        prefix: String,
        into result: inout ConnectObject
    ) {
        for field in schema.fields {
            let name = fieldName(prefix, field.name)
            let value = SMTSupport.fieldValue(object, field)
            if field.schema.type == .struct {
                if case .object(let nested) = value {
                    flattenStruct(nested, schema: field.schema, prefix: name, into: &result)
                }
            } else {
                result[name] = value
            }
        }
    }
}

/// `org.apache.kafka.connect.transforms.Flatten$Key`.
struct FlattenKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: Flatten
}

/// `org.apache.kafka.connect.transforms.Flatten$Value`.
struct FlattenValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: Flatten
}
