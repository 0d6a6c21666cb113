/// `org.apache.kafka.connect.transforms.ReplaceField`: drops (`exclude`), keeps only (`include`) and renames
/// (`renames`) fields of the key or value; `exclude` wins over `include`. A null key or value passes unchanged.
struct ReplaceField: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey(
            "exclude",
            .list,
            default: "",
            importance: .medium,
            "Fields to exclude. This takes precedence over the fields to include."
        ),
        ConfigKey(
            "include",
            .list,
            default: "",
            importance: .medium,
            "Fields to include. If specified, only these fields will be used."
        ),
        ConfigKey(
            "renames",
            .list,
            default: "",
            importance: .medium,
            validator: { value in
                for mapping in ParsedConfig.splitList(value) where mapping.split(separator: ":").count != 2 {
                    return "Invalid rename mapping: \(mapping)"
                }
                return nil
            },
            "Field rename mappings."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "field replacement"

    let part: RecordPart
    let exclude: Set<String>
    let include: Set<String>
    let renames: [String: String]
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        exclude = Set(config.list("exclude"))
        include = Set(config.list("include"))
        var renames: [String: String] = [:]
        for mapping in config.list("renames") {
            let parts = mapping.split(separator: ":")
            guard parts.count == 2 else {
                throw .config(
                    "Invalid value \(config.string("renames") ?? "") for configuration renames: "
                        + "Invalid rename mapping: \(mapping)"
                )
            }
            renames[String(parts[0])] = String(parts[1])
        }
        self.renames = renames
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    func filter(_ name: String) -> Bool {
        !exclude.contains(name) && (include.isEmpty || include.contains(name))
    }

    func renamed(_ name: String) -> String { renames[name] ?? name }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        if value.isNull { return record }
        guard let schema = part.schema(of: record) else {
            let object = try SMTSupport.requireMap(value, purpose: Self.purpose)
            var updated = ConnectObject()
            for member in object.members where filter(member.name) {
                updated[renamed(member.name)] = member.value
            }
            return part.replacing(in: record, schema: nil, value: .object(updated))
        }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        var updatedSchema = SMTSupport.structBasics(of: schema)
        var updated = ConnectObject()
        for field in schema.fields where filter(field.name) {
            let name = renamed(field.name)
            try SMTSupport.addField(name, field.schema, to: &updatedSchema)
            updated[name] = SMTSupport.fieldValue(object, field, replaceNullWithDefault: replaceNullWithDefault)
        }
        return part.replacing(in: record, schema: updatedSchema, value: .object(updated))
    }
}

/// `org.apache.kafka.connect.transforms.ReplaceField$Key`.
struct ReplaceFieldKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: ReplaceField
}

/// `org.apache.kafka.connect.transforms.ReplaceField$Value`.
struct ReplaceFieldValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: ReplaceField
}
