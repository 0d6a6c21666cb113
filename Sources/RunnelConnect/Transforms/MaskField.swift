import Foundation

/// `org.apache.kafka.connect.transforms.MaskField`: replaces the listed fields with the "null" value of their type
/// (0, false, "", an empty array or map, the epoch for dates) or with `replacement`. A null key or value passes
/// unchanged.
struct MaskField: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey(
            "fields",
            .list,
            required: true,
            importance: .high,
            validator: Validators.nonEmptyList,
            "Names of fields to mask."
        ),
        ConfigKey(
            "replacement",
            .string,
            importance: .low,
            validator: Validators.nonEmpty,
            "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values "
                + "only)."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "mask fields"

    let part: RecordPart
    let fields: [String]
    let replacement: String?
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        var seen: Set<String> = []
        fields = try SMTSupport.requiredList(config, "fields").filter { seen.insert($0).inserted }
        if let given = config.string("replacement"), given.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .config("Invalid value \(given) for configuration replacement: String must be non-empty")
        }
        replacement = config.string("replacement")
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        if value.isNull { return record }
        guard let schema = part.schema(of: record) else {
            var updated = try SMTSupport.requireMap(value, purpose: Self.purpose)
            for field in fields {
                updated[field] = try masked(updated[field] ?? .null, schema: nil)
            }
            return part.replacing(in: record, schema: nil, value: .object(updated))
        }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        var updated = ConnectObject()
        for field in schema.fields {
            let original = SMTSupport.fieldValue(object, field, replaceNullWithDefault: replaceNullWithDefault)
            if fields.contains(field.name) {
                updated[field.name] = try masked(original, schema: field.schema)
            } else {
                updated[field.name] = original
            }
        }
        return part.replacing(in: record, schema: schema, value: .object(updated))
    }

    private func masked(_ value: ConnectValue, schema: ConnectSchema?) throws(ConnectError) -> ConnectValue {
        if value.isNull { return .null }
        if let replacement { return try replaced(value, schema: schema, with: replacement) }
        if let name = schema?.name {
            if SMTSupport.dateLogicalNames.contains(name) { return .int(0) }
            if name == ConnectSchema.decimalName { return .bytes([0]) }
        }
        switch value {
        case .null: return .null
        case .bool: return .bool(false)
        case .int: return .int(0)
        case .double: return .double(0)
        case .string: return .string("")
        case .array: return .array([])
        case .object:
            if schema?.type == .struct {
                throw .data("Cannot mask value of type: class \(SMTSupport.className(value, schema: schema))")
            }
            return .object(ConnectObject())
        case .bytes:
            throw .data("Cannot mask value of type: class [B")
        }
    }

    private func replaced(
        _ value: ConnectValue,
        schema: ConnectSchema?,
        with replacement: String
    ) throws(ConnectError) -> ConnectValue {
        let className = SMTSupport.className(value, schema: schema)
        let unsupported = ConnectError.data("Cannot mask value of type class \(className) with custom replacement.")
        if let name = schema?.name, SMTSupport.dateLogicalNames.contains(name) || name == ConnectSchema.decimalName {
            throw unsupported
        }
        let notNumber = ConnectError.data(
            "Unable to convert \(replacement) (class java.lang.String) to number"
        )
        let trimmed = replacement.trimmingCharacters(in: .whitespaces)
        switch value {
        case .int:
            let parsed: Int64? = Int64(trimmed) ?? Double(trimmed).flatMap { Int64(exactly: $0.rounded(.towardZero)) }
            guard let number = parsed else { throw notNumber }
            let bounds: ClosedRange<Int64> =
                switch schema?.type {
                case .int8: Int64(Int8.min)...Int64(Int8.max)
                case .int16: Int64(Int16.min)...Int64(Int16.max)
                case .int32: Int64(Int32.min)...Int64(Int32.max)
                default: Int64.min...Int64.max
                }
            guard bounds.contains(number) else { throw notNumber }
            return .int(number)
        case .double:
            guard let number = Double(trimmed) else { throw notNumber }
            return .double(schema?.type == .float32 ? Double(Float(number)) : number)
        case .string:
            return .string(replacement)
        default:
            throw unsupported
        }
    }
}

/// `org.apache.kafka.connect.transforms.MaskField$Key`.
struct MaskFieldKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: MaskField
}

/// `org.apache.kafka.connect.transforms.MaskField$Value`.
struct MaskFieldValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: MaskField
}
