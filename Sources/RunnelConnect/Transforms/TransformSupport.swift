import Foundation

/// The shared body of a `$Key`/`$Value` pair of transforms: one implementation told which part of the record it
/// works on.
protocol KeyValueTransformCore: Sendable {
    static var configDef: ConfigDef { get }
    init(config: ParsedConfig, part: RecordPart) throws(ConnectError)
    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord?
}

/// One concrete class of a `$Key`/`$Value` pair (e.g. `InsertField$Value`): a core and the part it is bound to.
protocol KeyValueTransformation: Transformation {
    associatedtype Core: KeyValueTransformCore
    static var part: RecordPart { get }
    var core: Core { get }
    init(core: Core)
}

extension KeyValueTransformation {
    static var configDef: ConfigDef { Core.configDef }

    init(config: ParsedConfig) throws(ConnectError) {
        self.init(core: try Core(config: config, part: Self.part))
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        try core.apply(record)
    }
}

/// Helpers shared by the built-in transforms: Kafka's `Requirements`, `SchemaUtil` and the Java names its error
/// messages show.
enum SMTSupport {
    static let replaceNullWithDefaultDoc =
        "Whether to replace fields that have a default value and that are null to the default value. When set to "
        + "true, the default value is used, otherwise null is used."

    static func replaceNullWithDefaultKey() -> ConfigKey {
        ConfigKey(
            "replace.null.with.default",
            .boolean,
            default: "true",
            importance: .medium,
            replaceNullWithDefaultDoc
        )
    }

    /// A required string key, checked again here for callers that did not parse the config through its definition.
    static func required(_ config: ParsedConfig, _ name: String) throws(ConnectError) -> String {
        guard let value = config.nonEmpty(name) else {
            throw .config("Missing required configuration \"\(name)\" which has no default value.")
        }
        return value
    }

    /// A required list key, which must not be empty.
    static func requiredList(_ config: ParsedConfig, _ name: String) throws(ConnectError) -> [String] {
        guard config.string(name) != nil else {
            throw .config("Missing required configuration \"\(name)\" which has no default value.")
        }
        let list = config.list(name)
        if list.isEmpty {
            throw .config("Invalid value \(config.string(name) ?? "") for configuration \(name): Empty list")
        }
        return list
    }

    /// `replace.null.with.default`, true unless set to false.
    static func replaceNullWithDefault(_ config: ParsedConfig) -> Bool {
        config.string("replace.null.with.default")?.trimmingCharacters(in: .whitespaces).lowercased() != "false"
    }

    // MARK: Java names

    /// The logical types Java represents as `java.util.Date`.
    static let dateLogicalNames: Set<String> = [
        ConnectSchema.timestampName, ConnectSchema.dateName, ConnectSchema.timeName,
    ]

    /// The Java class a value would have in Kafka Connect, as `getClass().getName()` shows it.
    static func className(_ value: ConnectValue, schema: ConnectSchema? = nil) -> String {
        switch value {
        case .null:
            return "null"
        case .bool:
            return "java.lang.Boolean"
        case .int:
            if let name = schema?.name, dateLogicalNames.contains(name) { return "java.util.Date" }
            switch schema?.type {
            case .int8: return "java.lang.Byte"
            case .int16: return "java.lang.Short"
            case .int32: return "java.lang.Integer"
            default: return "java.lang.Long"
            }
        case .double:
            return schema?.type == .float32 ? "java.lang.Float" : "java.lang.Double"
        case .string:
            return "java.lang.String"
        case .bytes:
            return "[B"
        case .array:
            return "java.util.ArrayList"
        case .object:
            return schema?.type == .struct ? "org.apache.kafka.connect.data.Struct" : "java.util.HashMap"
        }
    }

    /// The name of a schema type as Java's `Schema.Type` enum spells it.
    static func javaTypeName(_ type: ConnectSchemaType) -> String {
        switch type {
        case .boolean: "BOOLEAN"
        case .int8: "INT8"
        case .int16: "INT16"
        case .int32: "INT32"
        case .int64: "INT64"
        case .float32: "FLOAT32"
        case .float64: "FLOAT64"
        case .bytes: "BYTES"
        case .string: "STRING"
        case .array: "ARRAY"
        case .map: "MAP"
        case .struct: "STRUCT"
        }
    }

    /// The schema type a schemaless value would be inferred as (Java's `ConnectSchema.schemaType`).
    static func inferredType(_ value: ConnectValue) -> ConnectSchemaType? {
        switch value {
        case .null: nil
        case .bool: .boolean
        case .int: .int64
        case .double: .float64
        case .string: .string
        case .bytes: .bytes
        case .array: .array
        case .object: .map
        }
    }

    /// A floating-point number as Java's `Double.toString` (or `Float.toString`) writes it: `1.0`, `1.0E10`, `NaN`.
    static func javaString(_ value: Double, float: Bool = false) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let text = float ? Float(value).description : value.description
        let magnitude = Swift.abs(value)
        if magnitude >= 1e-3 && magnitude < 1e7 && !text.contains("e") {
            return text.contains(".") ? text : text + ".0"
        }
        // Computerized scientific notation from Swift's shortest digits.
        var body = Substring(text)
        var sign = ""
        if body.hasPrefix("-") {
            sign = "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: "e", maxSplits: 1)
        let mantissa = parts.first ?? ""
        let exponent = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integerDigits = pieces.first.map { String($0) } ?? ""
        let fractionDigits = pieces.count > 1 ? String(pieces[1]) : ""
        var digits = Array(integerDigits + fractionDigits)
        var decimalExponent = exponent + integerDigits.count - 1
        while let first = digits.first, first == "0", digits.count > 1 {
            digits.removeFirst()
            decimalExponent -= 1
        }
        while let last = digits.last, last == "0", digits.count > 1 {
            digits.removeLast()
        }
        guard let lead = digits.first else { return text }
        let rest = digits.dropFirst()
        return sign + String(lead) + "." + (rest.isEmpty ? "0" : String(rest)) + "E" + String(decimalExponent)
    }

    // MARK: Requirements

    /// The members of a schemaless map, or Kafka's error for anything else.
    static func requireMap(_ value: ConnectValue, purpose: String) throws(ConnectError) -> ConnectObject {
        guard case .object(let object) = value else {
            throw .data(
                "Only Map objects supported in absence of schema for [\(purpose)], found: \(className(value))"
            )
        }
        return object
    }

    /// The members of a struct described by `schema`, or Kafka's error for anything else.
    static func requireStruct(
        _ value: ConnectValue,
        schema: ConnectSchema,
        purpose: String
    ) throws(ConnectError) -> ConnectObject {
        guard schema.type == .struct, case .object(let object) = value else {
            throw .data("Only Struct objects supported for [\(purpose)], found: \(className(value, schema: schema))")
        }
        return object
    }

    static func requireSchema(_ schema: ConnectSchema?, purpose: String) throws(ConnectError) -> ConnectSchema {
        guard let schema else { throw .data("Schema required for [\(purpose)]") }
        return schema
    }

    // MARK: Schemas and structs

    /// A new struct schema with the name, version, doc and parameters of `schema` (Kafka's `copySchemaBasics`).
    static func structBasics(of schema: ConnectSchema) -> ConnectSchema {
        ConnectSchema(
            .struct,
            name: schema.name,
            version: schema.version,
            doc: schema.doc,
            parameters: schema.parameters
        )
    }

    /// Appends a field, refusing a duplicate name as Kafka's `SchemaBuilder` does.
    static func addField(
        _ name: String,
        _ fieldSchema: ConnectSchema,
        to schema: inout ConnectSchema
    ) throws(ConnectError) {
        if schema.field(name) != nil {
            throw .data("Cannot create field because of field name duplication \(name)")
        }
        schema.fields.append(ConnectSchema.Field(name, fieldSchema))
    }

    /// The value of `field` in a struct: null when absent, and the field's default for a null when
    /// `replaceNullWithDefault` (Kafka's `Struct.get` against `getWithoutDefault`).
    static func fieldValue(
        _ object: ConnectObject,
        _ field: ConnectSchema.Field,
        replaceNullWithDefault: Bool = true
    ) -> ConnectValue {
        let value = object[field.name] ?? .null
        if value.isNull, replaceNullWithDefault, let defaultValue = field.schema.defaultValue {
            return defaultValue
        }
        return value
    }

    // MARK: Logical types

    static func timestampSchema(optional: Bool) -> ConnectSchema {
        ConnectSchema(.int64, optional: optional, name: ConnectSchema.timestampName, version: 1)
    }

    static func dateSchema(optional: Bool) -> ConnectSchema {
        ConnectSchema(.int32, optional: optional, name: ConnectSchema.dateName, version: 1)
    }

    static func timeSchema(optional: Bool) -> ConnectSchema {
        ConnectSchema(.int32, optional: optional, name: ConnectSchema.timeName, version: 1)
    }

    static let millisecondsPerDay: Int64 = 86_400_000

    /// Floor division and modulo, so times before the epoch land on the right day.
    static func floorDivMod(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    /// `value * factor`, saturating at the bounds of Int64 as Java's `TimeUnit` conversions do.
    static func saturatingMultiply(_ value: Int64, _ factor: Int64) -> Int64 {
        let (result, overflow) = value.multipliedReportingOverflow(by: factor)
        if overflow { return (value < 0) != (factor < 0) ? Int64.min : Int64.max }
        return result
    }
}

/// A Java regular expression compiled with ICU (NSRegularExpression), shareable across tasks. Matching is
/// serialised, since not every Foundation promises `NSRegularExpression` may be used from several threads at once.
final class SMTRegex: @unchecked Sendable {
    let pattern: String
    private let regex: NSRegularExpression
    private let lock = NSLock()

    /// Compiles `pattern` for whole-input matching (Java's `Matcher.matches()`); group numbers are unchanged.
    init(wholeMatch pattern: String) throws(ConnectError) {
        self.pattern = pattern
        do {
            regex = try NSRegularExpression(pattern: "\\A(?:" + pattern + ")\\z")
        } catch {
            throw .config("Invalid regex: \(pattern)")
        }
    }

    static func problem(_ pattern: String) -> String? {
        do {
            _ = try NSRegularExpression(pattern: pattern)
            return nil
        } catch {
            return "Invalid regex: \(pattern)"
        }
    }

    func matches(_ text: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        return regex.firstMatch(in: text, options: [], range: range) != nil
    }

    /// When the whole of `text` matches, the replacement with `$n` group references expanded (Java's
    /// `replaceFirst` of a whole match); nil otherwise.
    func replacingWholeMatch(_ text: String, with template: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        guard let match = regex.firstMatch(in: text, options: [], range: range) else { return nil }
        return regex.replacementString(for: match, in: text, offset: 0, template: template)
    }
}

/// A Java `SimpleDateFormat` pattern run by a `DateFormatter` in UTC with the `en_US_POSIX` locale. The letters
/// Kafka users write (`yyyy MM dd HH mm ss SSS`, quoted literals such as `'T'`, zones `X` and `Z`) mean the same in
/// both; formatting is serialised since `DateFormatter` is not meant for concurrent use.
final class SMTDateFormat: @unchecked Sendable {
    let pattern: String
    private let formatter: DateFormatter
    private let lock = NSLock()

    /// The letters SimpleDateFormat knows; any other unquoted ASCII letter makes it reject the pattern.
    private static let javaLetters: Set<Character> = [
        "G", "y", "Y", "M", "L", "w", "W", "D", "d", "F", "E", "u", "a", "H", "k", "K", "h", "m", "s", "S", "z",
        "Z", "X",
    ]

    // Kafka's `Values` formats for java.util.Date values (Cast to string).
    static let logicalDate = SMTDateFormat(knownPattern: "yyyy-MM-dd")
    static let logicalTime = SMTDateFormat(knownPattern: "HH:mm:ss.SSS")
    static let logicalTimestamp = SMTDateFormat(knownPattern: "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")

    /// A format for a pattern from the config, or nil if SimpleDateFormat would reject it.
    convenience init?(javaPattern: String) {
        guard let translated = Self.translate(javaPattern) else { return nil }
        self.init(javaPattern: javaPattern, icuPattern: translated)
    }

    /// A format for one of our own patterns, known to be valid.
    convenience init(knownPattern: String) {
        self.init(javaPattern: knownPattern, icuPattern: Self.translate(knownPattern) ?? knownPattern)
    }

    private init(javaPattern: String, icuPattern: String) {
        pattern = javaPattern
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        var calendar = Calendar(identifier: .gregorian)
        calendar.firstWeekday = 2
        if let utc = TimeZone(identifier: "UTC") { calendar.timeZone = utc }
        formatter.calendar = calendar
        formatter.isLenient = false
        formatter.dateFormat = icuPattern
    }

    /// The ICU pattern for a SimpleDateFormat pattern, or nil if Java would reject it.
    static func translate(_ javaPattern: String) -> String? {
        var result = ""
        var quoted = false
        for character in javaPattern {
            if character == "'" {
                quoted.toggle()
            } else if !quoted, character.isASCII, character.isLetter {
                guard javaLetters.contains(character) else { return nil }
                // Java's `u` is the day number of the week (1 = Monday); ICU's `u` is the extended year, its `e` the
                // local day number of the week (counted from the calendar's first weekday, set to Monday).
                if character == "u" {
                    result.append("e")
                    continue
                }
            }
            result.append(character)
        }
        return quoted ? nil : result
    }

    func format(milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        lock.lock()
        defer { lock.unlock() }
        return formatter.string(from: date)
    }

    func parse(_ text: String) -> Int64? {
        lock.lock()
        let parsed = formatter.date(from: text)
        lock.unlock()
        guard let date = parsed else { return nil }
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        guard milliseconds.isFinite, Swift.abs(milliseconds) < 9.2e18 else { return nil }
        return Int64(milliseconds)
    }
}
