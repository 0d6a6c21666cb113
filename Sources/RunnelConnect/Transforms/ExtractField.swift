import Foundation

/// `org.apache.kafka.connect.transforms.ExtractField`: replaces the key or value with one of its fields (with the
/// field's schema). With `field.syntax.version=V2` the field is a dotted path into nested structs or maps, where a
/// step in backticks may contain dots. A null key or value stays null.
struct ExtractField: KeyValueTransformCore {
    static let configDef = ConfigDef([
        ConfigKey(
            "field",
            .string,
            required: true,
            importance: .medium,
            "Field name to extract."
        ),
        ConfigKey(
            "field.syntax.version",
            .string,
            default: "V1",
            importance: .high,
            recommended: ["V1", "V2"],
            validator: Validators.oneOf(["V1", "V2"]),
            "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are limited to "
                + "access the elements at the root level of the struct or map. If set to `V2`, the syntax will support "
                + "accessing nested elements. To access nested elements, dotted notation is used. If dots are already "
                + "included in the field name, then backtick pairs can be used to wrap field names containing dots. "
                + "E.g. to access the subfield `baz` from a field named \"foo.bar\" in a struct/map the following "
                + "format can be used to access its elements: \"`foo.bar`.baz\"."
        ),
        SMTSupport.replaceNullWithDefaultKey(),
    ])

    private static let purpose = "field extraction"

    let part: RecordPart
    let field: String
    let path: [String]
    let replaceNullWithDefault: Bool

    init(config: ParsedConfig, part: RecordPart) throws(ConnectError) {
        self.part = part
        guard let field = config.string("field"), !field.isEmpty else {
            throw .config("Missing required configuration \"field\" which has no default value.")
        }
        self.field = field
        let version = (config.string("field.syntax.version") ?? "V1").trimmingCharacters(in: .whitespaces)
        switch version.uppercased() {
        case "V1": path = [field]
        case "V2": path = Self.parsePath(field)
        default:
            throw .config(
                "Invalid value \(version) for configuration field.syntax.version: String must be one of: V1, V2"
            )
        }
        replaceNullWithDefault = SMTSupport.replaceNullWithDefault(config)
    }

    /// Splits a V2 path on dots; a step that starts with a backtick runs to the next backtick followed by a dot or
    /// the end, and may contain dots (and backticks escaped with a backslash).
    static func parsePath(_ text: String) -> [String] {
        let characters = Array(text)
        var steps: [String] = []
        var current = ""
        var index = 0
        var atStepStart = true
        while index < characters.count {
            let character = characters[index]
            if atStepStart, character == "`", let quoted = quotedStep(characters, from: index) {
                steps.append(quoted.step)
                if quoted.end + 1 >= characters.count { return steps }
                // Past the closing backtick and the dot after it.
                index = quoted.end + 2
                continue
            }
            atStepStart = false
            if character == "." {
                steps.append(current)
                current = ""
                atStepStart = true
            } else {
                current.append(character)
            }
            index += 1
        }
        steps.append(current)
        return steps
    }

    /// The text of a backtick-quoted step starting at `start`, and the index of its closing backtick.
    private static func quotedStep(_ characters: [Character], from start: Int) -> (step: String, end: Int)? {
        var step = ""
        var index = start + 1
        while index < characters.count {
            let character = characters[index]
            if character == "\\", index + 1 < characters.count, characters[index + 1] == "`" {
                step.append("`")
                index += 2
                continue
            }
            if character == "`", index + 1 == characters.count || characters[index + 1] == "." {
                return (step, index)
            }
            step.append(character)
            index += 1
        }
        return nil
    }

    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord? {
        let value = part.value(of: record)
        guard let schema = part.schema(of: record) else {
            if value.isNull { return record }
            let object = try SMTSupport.requireMap(value, purpose: Self.purpose)
            return part.replacing(in: record, schema: nil, value: Self.schemalessValue(path, in: object))
        }
        var object: ConnectObject?
        if !value.isNull {
            object = try SMTSupport.requireStruct(value, schema: schema, purpose: Self.purpose)
        }
        guard schema.type == .struct else { throw .data("Cannot look up fields on non-struct type") }
        var currentSchema = schema
        var current = object
        var result: ConnectValue = .null
        for (position, step) in path.enumerated() {
            guard currentSchema.type == .struct, let schemaField = currentSchema.field(step) else {
                throw .data("Unknown field: \(self.field)")
            }
            var stepValue: ConnectValue = .null
            if let current {
                stepValue = SMTSupport.fieldValue(current, schemaField, replaceNullWithDefault: replaceNullWithDefault)
            }
            currentSchema = schemaField.schema
            if position == path.count - 1 {
                result = stepValue
            } else {
                current = stepValue.object
            }
        }
        return part.replacing(in: record, schema: currentSchema, value: result)
    }

    /// The value at `path` in nested maps; null when a step is missing or not a map.
    static func schemalessValue(_ path: [String], in object: ConnectObject) -> ConnectValue {
        var current = object
        for (position, step) in path.enumerated() {
            let value = current[step] ?? .null
            if position == path.count - 1 { return value }
            guard case .object(let next) = value else { return .null }
            current = next
        }
        return .null
    }
}

/// `org.apache.kafka.connect.transforms.ExtractField$Key`.
struct ExtractFieldKey: KeyValueTransformation {
    static let part = RecordPart.key
    let core: ExtractField
}

/// `org.apache.kafka.connect.transforms.ExtractField$Value`.
struct ExtractFieldValue: KeyValueTransformation {
    static let part = RecordPart.value
    let core: ExtractField
}
