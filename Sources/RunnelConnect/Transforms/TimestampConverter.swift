import Foundation

/// `org.apache.kafka.connect.transforms.TimestampConverter`: converts a timestamp field (or the whole key or value)
/// between a formatted string, a Unix epoch number and Connect's Date, Time and Timestamp logical types. Dates and
/// times are in UTC.
///
/// Values are as Connect's converters carry them: Timestamp and unix as a number of milliseconds (unix in
/// `unix.precision`), Date as days since the epoch, Time as milliseconds since midnight.
struct TimestampConverter: KeyValueTransformCore {
    enum TimestampType: String, Sendable, CaseIterable {
        case string
        case unix
        case date = "Date"
        case time = "Time"
        case timestamp = "Timestamp"
    }

    enum Precision: String, Sendable, CaseIterable {
        case seconds, milliseconds, microseconds, nanoseconds
    }

    static let configDef = ConfigDef([
        ConfigKey(
            "field",
            .string,
            default: "",
            importance: .high,
            "The field containing the timestamp, or empty if the entire value is a timestamp"
        ),
        ConfigKey(
            "target.type",
            .string,
            required: true,
            importance: .high,
            recommended: TimestampType.allCases.map(\.rawValue),
            validator: Validators.oneOf(TimestampType.allCases.map(\.rawValue), caseInsensitive: false),
            "The desired timestamp representation: string, unix, Date, Time, or Timestamp"
        ),
        ConfigKey(
            "format",
            .string,
            default: "",
            importance: .medium,
            "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or "
                + "used to parse the input if the input is a string."
        ),
        ConfigKey(
            "unix.precision",
            .string,
            default: "milliseconds",
            importance: .low,
            recommended: Precision.allCases.map(\.rawValue),
            validator: Validators.oneOf(Precision.allCases.map(\.rawValue), caseInsensitive: false),
            "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used "
                + "to generate the output when type=unix or used to parse the input if the input is a Long. Note: "
                + "This SMT will cause precision loss during conversions from, and to, values with sub-millisecond "
                + "components."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "converting timestamp formats"

    let part: RecordPart
    let field: String
    let targetType: TimestampType
    let format: SMTDateFormat?
    let precision: Precision
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        field = config.string("field") ?? ""
        guard let typeName = config.nonEmpty("target.type") else {
            throw .config("Missing required configuration \"target.type\" which has no default value.")
        }
        guard let targetType = TimestampType(rawValue: typeName) else {
            throw .config(
                "Unknown timestamp type in TimestampConverter: \(typeName). Valid values are "
                    + TimestampType.allCases.map(\.rawValue).joined(separator: ", ") + "."
            )
        }
        self.targetType = targetType
        let pattern = config.string("format") ?? ""
        if targetType == .string && pattern.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .config("TimestampConverter requires format option to be specified when using string timestamps")
        }
        if pattern.trimmingCharacters(in: .whitespaces).isEmpty {
            format = nil
        } else {
            guard let format = SMTDateFormat(javaPattern: pattern) else {
                throw .config(
                    "TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: "
                        + pattern
                )
            }
            self.format = format
        }
        let precisionName = config.nonEmpty("unix.precision") ?? "milliseconds"
        guard let precision = Precision(rawValue: precisionName) else {
            throw .config(
                "Invalid value \(precisionName) for configuration unix.precision: String must be one of: "
                    + Precision.allCases.map(\.rawValue).joined(separator: ", ")
            )
        }
        self.precision = precision
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        guard let schema = part.schema(of: record) else {
            if value.isNull || field.isEmpty {
                return part.replacing(in: record, schema: nil, value: try convert(value, from: nil))
            }
            var updated = try SMTSupport.requireMap(value, purpose: Self.purpose)
            updated[field] = try convert(updated[field] ?? .null, from: nil)
            return part.replacing(in: record, schema: nil, value: .object(updated))
        }
        if field.isEmpty {
            let converted = try convert(value, from: try Self.timestampType(of: schema))
            return part.replacing(in: record, schema: targetSchema(optional: schema.optional), value: converted)
        }
        var object: ConnectObject?
        if !value.isNull {
            object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        }
        var updatedSchema = SMTSupport.structBasics(of: schema)
        updatedSchema.optional = schema.optional
        var updated = ConnectObject()
        for schemaField in schema.fields {
            let original = object.map {
                SMTSupport.fieldValue($0, schemaField, replaceNullWithDefault: replaceNullWithDefault)
            }
            if schemaField.name == field {
                updatedSchema.fields.append(
                    ConnectSchema.Field(schemaField.name, targetSchema(optional: schemaField.schema.optional))
                )
                if let original {
                    let sourceType = try Self.timestampType(of: schemaField.schema)
                    updated[schemaField.name] = try convert(original, from: sourceType)
                }
            } else {
                updatedSchema.fields.append(schemaField)
                if let original { updated[schemaField.name] = original }
            }
        }
        return part.replacing(in: record, schema: updatedSchema, value: object == nil ? .null : .object(updated))
    }

    /// The schema of the target type.
    func targetSchema(optional: Bool) -> ConnectSchema {
        switch targetType {
        case .string: ConnectSchema(.string, optional: optional)
        case .unix: ConnectSchema(.int64, optional: optional)
        case .date: SMTSupport.dateSchema(optional: optional)
        case .time: SMTSupport.timeSchema(optional: optional)
        case .timestamp: SMTSupport.timestampSchema(optional: optional)
        }
    }

    /// The kind of timestamp a schema holds.
    static func timestampType(of schema: ConnectSchema) throws(ConnectError) -> TimestampType {
        switch schema.name ?? "" {
        case ConnectSchema.timestampName: return .timestamp
        case ConnectSchema.dateName: return .date
        case ConnectSchema.timeName: return .time
        default: break
        }
        switch schema.type {
        case .string: return .string
        case .int64: return .unix
        default:
            throw .data(
                "Schema Schema{\(schema.name.map { $0 + ":" } ?? "")\(SMTSupport.javaTypeName(schema.type))} does not "
                    + "correspond to a known timestamp type format"
            )
        }
    }

    /// `timestamp` (of `sourceType`, inferred from the value when nil) converted to the target type.
    func convert(_ timestamp: ConnectValue, from sourceType: TimestampType?) throws(ConnectError) -> ConnectValue {
        if timestamp.isNull { return .null }
        let type: TimestampType
        if let sourceType {
            type = sourceType
        } else {
            switch timestamp {
            case .int: type = .unix
            case .string: type = .string
            default:
                throw .data(
                    "TimestampConverter does not support class \(SMTSupport.className(timestamp)) objects as timestamps"
                )
            }
        }
        return try toType(try toRaw(timestamp, type: type))
    }

    /// Milliseconds since the epoch.
    private func toRaw(_ value: ConnectValue, type: TimestampType) throws(ConnectError) -> Int64 {
        let className = "class " + SMTSupport.className(value)
        switch type {
        case .string:
            guard case .string(let text) = value else {
                throw .data("Expected string timestamp to be a String, but found \(className)")
            }
            guard let format else {
                throw .data("TimestampConverter requires format option to be specified when using string timestamps")
            }
            guard let milliseconds = format.parse(text) else {
                throw .data(
                    "Could not parse timestamp: value (\(text)) does not match pattern (\(format.pattern))"
                )
            }
            return milliseconds
        case .unix:
            guard case .int(let number) = value else {
                throw .data("Expected Unix timestamp to be a Long, but found \(className)")
            }
            switch precision {
            case .seconds: return SMTSupport.saturatingMultiply(number, 1000)
            case .milliseconds: return number
            case .microseconds: return number / 1000
            case .nanoseconds: return number / 1_000_000
            }
        case .date:
            guard case .int(let days) = value else {
                throw .data("Expected Date to be a java.util.Date, but found \(className)")
            }
            return SMTSupport.saturatingMultiply(days, SMTSupport.millisecondsPerDay)
        case .time:
            guard case .int(let milliseconds) = value else {
                throw .data("Expected Time to be a java.util.Date, but found \(className)")
            }
            return milliseconds
        case .timestamp:
            guard case .int(let milliseconds) = value else {
                throw .data("Expected Timestamp to be a java.util.Date, but found \(className)")
            }
            return milliseconds
        }
    }

    private func toType(_ milliseconds: Int64) throws(ConnectError) -> ConnectValue {
        switch targetType {
        case .string:
            guard let format else {
                throw .data("TimestampConverter requires format option to be specified when using string timestamps")
            }
            return .string(format.format(milliseconds: milliseconds))
        case .unix:
            switch precision {
            case .seconds: return .int(milliseconds / 1000)
            case .milliseconds: return .int(milliseconds)
            case .microseconds: return .int(SMTSupport.saturatingMultiply(milliseconds, 1000))
            case .nanoseconds: return .int(SMTSupport.saturatingMultiply(milliseconds, 1_000_000))
            }
        case .date:
            return .int(SMTSupport.floorDivMod(milliseconds, SMTSupport.millisecondsPerDay).quotient)
        case .time:
            return .int(SMTSupport.floorDivMod(milliseconds, SMTSupport.millisecondsPerDay).remainder)
        case .timestamp:
            return .int(milliseconds)
        }
    }
}

/// `org.apache.kafka.connect.transforms.TimestampConverter$Key`.
struct TimestampConverterKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: TimestampConverter
}

/// `org.apache.kafka.connect.transforms.TimestampConverter$Value`.
struct TimestampConverterValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: TimestampConverter
}
