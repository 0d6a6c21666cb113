import Foundation

/// `org.apache.kafka.connect.transforms.Cast`: casts top-level fields (`spec=f1:type,f2:type`) or the whole key or
/// value (`spec=type`) to int8, int16, int32, int64, float32, float64, boolean or string. Bytes can only be cast to
/// string (base64); Date, Time and Timestamp values cast to string as Kafka's `Values` formats them. A null key or
/// value passes unchanged.
struct Cast: KeyValueTransformCore {
    static let outputTypes: [ConnectSchemaType] = [
        .int8, .int16, .int32, .int64, .float32, .float64, .boolean, .string,
    ]
    static let inputTypes: [ConnectSchemaType] = outputTypes + [.bytes]

    static let configDef = ConfigDef([
        ConfigKey(
            "spec",
            .list,
            required: true,
            importance: .high,
            validator: { value in
                if case .failure(let error) = Cast.parseSpec(ParsedConfig.splitList(value)) { return error.message }
                return nil
            },
            "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of "
                + "Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, "
                + "int64, float32, float64, boolean, and string. Note that binary fields can only be cast to string."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "cast types"

    let part: RecordPart
    /// Field casts in spec order; empty for a whole-value cast.
    let casts: [(field: String, type: ConnectSchemaType)]
    let wholeValueType: ConnectSchemaType?
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        guard let spec = config.string("spec") else {
            throw .config("Missing required configuration \"spec\" which has no default value.")
        }
        switch Self.parseSpec(ParsedConfig.splitList(spec)) {
        case .success(let parsed):
            casts = parsed.casts
            wholeValueType = parsed.wholeValue
        case .failure(let error):
            throw error
        }
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    struct Spec: Sendable {
        var casts: [(field: String, type: ConnectSchemaType)] = []
        var wholeValue: ConnectSchemaType?
    }

    static func parseSpec(_ mappings: [String]) -> Result<Spec, ConnectError> {
        if mappings.isEmpty { return .failure(.config("Must specify at least one field to cast.")) }
        var spec = Spec()
        for mapping in mappings {
            let parts = mapping.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count > 2 { return .failure(.config("Invalid rename mapping: \(mapping)")) }
            let typeResult = outputType(String(parts[parts.count - 1]))
            guard case .success(let type) = typeResult else { return typeResult.map { _ in spec } }
            if parts.count == 1 {
                spec.wholeValue = type
            } else {
                let field = String(parts[0]).trimmingCharacters(in: .whitespaces)
                spec.casts.removeAll { $0.field == field }
                spec.casts.append((field, type))
            }
        }
        if spec.wholeValue != nil && mappings.count > 1 {
            return .failure(
                .config(
                    "Cast transformations that specify a type to cast the entire value to may ony specify a single "
                        + "cast in their spec"
                )
            )
        }
        return .success(spec)
    }

    private static func outputType(_ text: String) -> Result<ConnectSchemaType, ConnectError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let name = trimmed.uppercased()
        guard let type = ConnectSchemaType.allCases.first(where: { SMTSupport.javaTypeName($0) == name }) else {
            return .failure(.config("Invalid type found in casting spec: \(trimmed)"))
        }
        guard outputTypes.contains(type) else {
            return .failure(
                .config(
                    "Cast transformation does not support casting to \(name); supported types are "
                        + "[\(outputTypes.map(SMTSupport.javaTypeName).joined(separator: ", "))]"
                )
            )
        }
        return .success(type)
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        if value.isNull { return record }
        let operatingSchema = part.schema(of: record)
        if let wholeValueType {
            let updatedSchema = operatingSchema.map { Self.castSchema($0, to: wholeValueType) }
            let cast = try Self.cast(value, schema: operatingSchema, to: wholeValueType)
            return part.replacing(in: record, schema: updatedSchema, value: cast)
        }
        guard let schema = operatingSchema else {
            var updated = try SMTSupport.requireMap(value, purpose: Self.purpose)
            for (field, type) in casts {
                updated[field] = try Self.cast(updated[field] ?? .null, schema: nil, to: type)
            }
            return part.replacing(in: record, schema: nil, value: .object(updated))
        }
        let object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        var updatedSchema = SMTSupport.structBasics(of: schema)
        updatedSchema.optional = schema.optional
        var updated = ConnectObject()
        for field in schema.fields {
            let original = SMTSupport.fieldValue(object, field, replaceNullWithDefault: replaceNullWithDefault)
            if let type = casts.first(where: { $0.field == field.name })?.type {
                updatedSchema.fields.append(ConnectSchema.Field(field.name, Self.castSchema(field.schema, to: type)))
                updated[field.name] = try Self.cast(original, schema: field.schema, to: type)
            } else {
                updatedSchema.fields.append(field)
                updated[field.name] = original
            }
        }
        return part.replacing(in: record, schema: updatedSchema, value: .object(updated))
    }

    /// The schema of a value cast to `type`: its basics (but not a logical name, which no longer applies), its
    /// optionality and its default, cast.
    static func castSchema(_ schema: ConnectSchema, to type: ConnectSchemaType) -> ConnectSchema {
        let logical = schema.name.map { SMTSupport.dateLogicalNames.contains($0) || $0 == ConnectSchema.decimalName }
        var cast = ConnectSchema(
            type,
            optional: schema.optional,
            name: logical == true ? nil : schema.name,
            version: logical == true ? nil : schema.version,
            doc: schema.doc,
            parameters: logical == true ? [] : schema.parameters
        )
        if let defaultValue = schema.defaultValue {
            cast.defaultValue = try? Self.cast(defaultValue, schema: schema, to: type)
        }
        return cast
    }

    /// `value` (described by `schema`, or inferred from the value when schemaless) cast to `type`.
    static func cast(
        _ input: ConnectValue,
        schema: ConnectSchema?,
        to type: ConnectSchemaType
    ) throws(ConnectError) -> ConnectValue {
        if input.isNull { return .null }
        guard let inputType = schema?.type ?? SMTSupport.inferredType(input) else { return .null }
        guard inputTypes.contains(inputType) else {
            throw .data(
                "Cast transformation does not support casting from \(SMTSupport.javaTypeName(inputType)); supported "
                    + "types are [\(inputTypes.map(SMTSupport.javaTypeName).joined(separator: ", "))]"
            )
        }
        let outOfRange = ConnectError.data("Value (\(input.text)) was out of range for requested data type")
        let unexpected = ConnectError.data(
            "Unexpected type in Cast transformation: class \(SMTSupport.className(input, schema: schema))"
        )
        // Date, Time and Timestamp are java.util.Date in Kafka: their number is milliseconds since the epoch.
        var value = input
        if let name = schema?.name, SMTSupport.dateLogicalNames.contains(name), case .int(let raw) = value {
            if type == .string { return .string(formatLogical(raw, name: name)) }
            if name == ConnectSchema.dateName {
                value = .int(SMTSupport.saturatingMultiply(raw, SMTSupport.millisecondsPerDay))
            }
        }
        switch type {
        case .int8, .int16, .int32, .int64:
            let number: Int64
            switch value {
            case .int(let integer): number = integer
            case .double(let double): number = javaNarrow(double, to: type)
            case .bool(let flag): number = flag ? 1 : 0
            case .string(let text):
                guard let parsed = Int64(text) else { throw outOfRange }
                number = parsed
                guard fits(number, type) else { throw outOfRange }
            default: throw unexpected
            }
            return .int(wrap(number, to: type))
        case .float32, .float64:
            let number: Double
            switch value {
            case .int(let integer): number = Double(integer)
            case .double(let double): number = double
            case .bool(let flag): number = flag ? 1 : 0
            case .string(let text):
                guard let parsed = javaParseDouble(text) else { throw outOfRange }
                number = parsed
            default: throw unexpected
            }
            return .double(type == .float32 ? Double(Float(number)) : number)
        case .boolean:
            switch value {
            case .int(let integer): return .bool(integer != 0)
            case .double(let double): return .bool(javaNarrow(double, to: .int64) != 0)
            case .bool: return value
            case .string(let text): return .bool(text.lowercased() == "true")
            default: throw unexpected
            }
        case .string:
            switch value {
            case .double(let double): return .string(SMTSupport.javaString(double, float: schema?.type == .float32))
            case .bytes(let bytes): return .string(Data(bytes).base64EncodedString())
            default: return .string(value.text)
            }
        default:
            throw .data("\(SMTSupport.javaTypeName(type)) is not supported in the Cast transformation.")
        }
    }

    /// Whether a parsed integer fits the target width (Java's `Byte.parseByte` and friends reject the others).
    private static func fits(_ number: Int64, _ type: ConnectSchemaType) -> Bool {
        switch type {
        case .int8: Int8(exactly: number) != nil
        case .int16: Int16(exactly: number) != nil
        case .int32: Int32(exactly: number) != nil
        default: true
        }
    }

    /// Java's narrowing of a long (`Number.byteValue()` and friends): the low bits, sign-extended.
    private static func wrap(_ number: Int64, to type: ConnectSchemaType) -> Int64 {
        switch type {
        case .int8: Int64(Int8(truncatingIfNeeded: number))
        case .int16: Int64(Int16(truncatingIfNeeded: number))
        case .int32: Int64(Int32(truncatingIfNeeded: number))
        default: number
        }
    }

    /// Java's double to integer conversion: toward zero, NaN as 0, saturating at the bounds of int (for int8, int16
    /// and int32, which Java narrows through int) or long.
    private static func javaNarrow(_ value: Double, to type: ConnectSchemaType) -> Int64 {
        if value.isNaN { return 0 }
        if type == .int64 {
            if value >= Double(Int64.max) { return Int64.max }
            if value <= Double(Int64.min) { return Int64.min }
            return Int64(value.rounded(.towardZero))
        }
        if value >= Double(Int32.max) { return Int64(Int32.max) }
        if value <= Double(Int32.min) { return Int64(Int32.min) }
        return Int64(value.rounded(.towardZero))
    }

    /// Java's `Double.parseDouble`: surrounding whitespace allowed, and a trailing `f`/`d` type suffix.
    private static func javaParseDouble(_ text: String) -> Double? {
        var trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let last = trimmed.last, "fFdD".contains(last), !trimmed.lowercased().hasSuffix("infinity") {
            trimmed.removeLast()
        }
        if trimmed == "NaN" || trimmed == "+NaN" || trimmed == "-NaN" { return .nan }
        if trimmed == "Infinity" || trimmed == "+Infinity" { return .infinity }
        if trimmed == "-Infinity" { return -.infinity }
        guard let first = trimmed.first, first.isNumber || first == "." || first == "-" || first == "+" else {
            return nil
        }
        return Double(trimmed)
    }

    /// A Date, Time or Timestamp as Kafka's `Values.dateFormatFor` writes it, in UTC.
    static func formatLogical(_ raw: Int64, name: String) -> String {
        switch name {
        case ConnectSchema.dateName:
            return SMTDateFormat.logicalDate.format(
                milliseconds: SMTSupport.saturatingMultiply(raw, SMTSupport.millisecondsPerDay)
            )
        case ConnectSchema.timeName:
            return SMTDateFormat.logicalTime.format(milliseconds: raw)
        default:
            return SMTDateFormat.logicalTimestamp.format(milliseconds: raw)
        }
    }
}

/// `org.apache.kafka.connect.transforms.Cast$Key`.
struct CastKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: Cast
}

/// `org.apache.kafka.connect.transforms.Cast$Value`.
struct CastValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: Cast
}
