import Foundation
public import NIOCore
public import RunnelJSON

/// Connect data as JSON: values (with or without a schema guiding them) and schemas in Kafka's JsonConverter shape.
public enum ConnectJSON {
    // MARK: Reading

    public static func parse(_ bytes: ByteBuffer) throws(JSONError) -> ConnectValue {
        try bytes.readableBytesView.withUnsafeBytes { raw throws(JSONError) in
            var reader = JSONReader(raw)
            let value = try read(&reader, depth: 0)
            try reader.expectEnd()
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONError) -> ConnectValue {
        try parse(ByteBuffer(string: text))
    }

    static func read(_ reader: inout JSONReader, depth: Int) throws(JSONError) -> ConnectValue {
        guard depth < JSONReader.maximumDepth else { throw JSONError("JSON nested too deeply", at: reader.position) }
        switch try reader.peekKind() {
        case .string: return .string(try reader.readString())
        case .number: return number(try reader.readNumberText())
        case .bool: return .bool(try reader.readBool())
        case .null:
            guard reader.readNullIfPresent() else { throw JSONError("Expected null", at: reader.position) }
            return .null
        case .array:
            try reader.beginArray()
            var elements: [ConnectValue] = []
            while try reader.nextElement() { elements.append(try read(&reader, depth: depth + 1)) }
            return .array(elements)
        case .object:
            try reader.beginObject()
            var object = ConnectObject()
            while let key = try reader.nextKey() {
                object.members.append(.init(key, try read(&reader, depth: depth + 1)))
            }
            return .object(object)
        }
    }

    static func number(_ text: String) -> ConnectValue {
        if let int = Int64(text) { return .int(int) }
        return .double(Double(text) ?? 0)
    }

    /// A JSON document (as the REST API parses it) as Connect data.
    public static func value(_ json: JSONValue) -> ConnectValue {
        switch json {
        case .null: .null
        case .bool(let value): .bool(value)
        case .number(let text): number(text)
        case .string(let text): .string(text)
        case .array(let elements): .array(elements.map(value))
        case .object(let members): .object(ConnectObject(members.map { ($0.0, value($0.1)) }))
        }
    }

    /// Connect data as a JSON document (bytes as base64), for the REST API.
    public static func json(_ value: ConnectValue) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): .int(value)
        case .double(let value): .number(value.isFinite ? "\(value)" : "null")
        case .string(let text): .string(text)
        case .bytes(let bytes): .string(Base64.encode(bytes))
        case .array(let elements): .array(elements.map(json))
        case .object(let object): .object(object.members.map { ($0.name, json($0.value)) })
        }
    }

    // MARK: Writing

    public static func writeValue(
        _ value: ConnectValue,
        schema: ConnectSchema?,
        decimalNumeric: Bool = false,
        to writer: inout JSONWriter
    ) throws(ConnectError) {
        var value = value
        if value.isNull, let schema {
            if let defaultValue = schema.defaultValue {
                value = defaultValue
            } else if !schema.optional {
                throw .data("Conversion error: null value for field that is required and has no default value")
            }
        }
        switch value {
        case .null: writer.raw("null")
        case .bool(let flag): writer.raw(flag ? "true" : "false")
        case .int(let number):
            if let schema, schema.type == .string { writer.string(String(number)) } else { writer.int(number) }
        case .double(let number):
            if number.isFinite { writer.rawText("\(number)") } else { writer.string("\(number)") }
        case .string(let text): writer.string(text)
        case .bytes(let bytes):
            if decimalNumeric, let schema, schema.name == ConnectSchema.decimalName {
                writer.rawText(
                    decimalText(bytes, scale: Int(schema.parameters.first { $0.0 == "scale" }?.1 ?? "0") ?? 0)
                )
            } else {
                writer.string(Base64.encode(bytes))
            }
        case .array(let elements):
            writer.raw("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { writer.raw(",") }
                try writeValue(element, schema: schema?.items, decimalNumeric: decimalNumeric, to: &writer)
            }
            writer.raw("]")
        case .object(let object):
            writer.raw("{")
            if let schema, schema.type == .struct {
                let fields = schema.fields
                let members = object.members
                for index in fields.indices {
                    if index > 0 { writer.raw(",") }
                    writer.string(fields[index].name)
                    writer.raw(":")
                    // Members usually come in the schema's order: look by position first.
                    let value =
                        index < members.count && members[index].name == fields[index].name
                        ? members[index].value : (object[fields[index].name] ?? .null)
                    try writeValue(value, schema: fields[index].schema, decimalNumeric: decimalNumeric, to: &writer)
                }
            } else {
                for (index, member) in object.members.enumerated() {
                    if index > 0 { writer.raw(",") }
                    writer.string(member.name)
                    writer.raw(":")
                    try writeValue(
                        member.value,
                        schema: schema?.valueSchema,
                        decimalNumeric: decimalNumeric,
                        to: &writer
                    )
                }
            }
            writer.raw("}")
        }
    }

    /// Appends a value as plain JSON, as JsonConverter writes it with `schemas.enable=false`.
    public static func append(
        _ value: ConnectValue,
        schema: ConnectSchema?,
        decimalNumeric: Bool = false,
        to buffer: inout ByteBuffer
    ) throws(ConnectError) {
        var writer = JSONWriter(buffer: buffer)
        buffer = ByteBuffer()  // the writer holds the only reference: no copy on write
        defer { buffer = writer.buffer }
        try writeValue(value, schema: schema, decimalNumeric: decimalNumeric, to: &writer)
    }

    /// A big-endian two's-complement unscaled value with its scale, as decimal text.
    static func decimalText(_ bytes: [UInt8], scale: Int) -> String {
        guard bytes.count <= 8 else { return "0" }
        var unscaled: Int64 = (bytes.first ?? 0) & 0x80 != 0 ? -1 : 0
        for byte in bytes { unscaled = (unscaled << 8) | Int64(byte) }
        guard scale > 0 else { return String(unscaled) }
        let negative = unscaled < 0
        var digits = String(unscaled.magnitude)
        while digits.count <= scale { digits = "0" + digits }
        digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        return (negative ? "-" : "") + digits
    }

    /// A schema as the JSON converter writes it; a struct's fields are schemas with their name as `"field"`.
    public static func writeSchema(_ schema: ConnectSchema, field: String? = nil, to writer: inout JSONWriter) {
        writer.raw("{\"type\":")
        writer.string(schema.type.rawValue)
        if schema.type == .struct {
            writer.raw(",\"fields\":[")
            for (index, member) in schema.fields.enumerated() {
                if index > 0 { writer.raw(",") }
                writeSchema(member.schema, field: member.name, to: &writer)
            }
            writer.raw("]")
        }
        if let items = schema.items {
            writer.raw(",\"items\":")
            writeSchema(items, to: &writer)
        }
        if let keys = schema.keySchema, let values = schema.valueSchema {
            writer.raw(",\"keys\":")
            writeSchema(keys, to: &writer)
            writer.raw(",\"values\":")
            writeSchema(values, to: &writer)
        }
        writer.raw(schema.optional ? ",\"optional\":true" : ",\"optional\":false")
        if let name = schema.name {
            writer.raw(",\"name\":")
            writer.string(name)
        }
        if let version = schema.version {
            writer.raw(",\"version\":")
            writer.int(version)
        }
        if let doc = schema.doc {
            writer.raw(",\"doc\":")
            writer.string(doc)
        }
        if !schema.parameters.isEmpty {
            writer.raw(",\"parameters\":{")
            for (index, parameter) in schema.parameters.enumerated() {
                if index > 0 { writer.raw(",") }
                writer.string(parameter.0)
                writer.raw(":")
                writer.string(parameter.1)
            }
            writer.raw("}")
        }
        if let defaultValue = schema.defaultValue {
            writer.raw(",\"default\":")
            var plain = schema
            plain.defaultValue = nil
            plain.optional = true
            try? writeValue(defaultValue, schema: plain, to: &writer)
        }
        if let field {
            writer.raw(",\"field\":")
            writer.string(field)
        }
        writer.raw("}")
    }

    // MARK: Schemas from JSON

    public static func schema(from node: ConnectValue) throws(ConnectError) -> ConnectSchema {
        guard case .object(let object) = node else { throw .data("Schema must be a JSON object") }
        guard case .string(let typeName)? = object["type"], let type = ConnectSchemaType(rawValue: typeName) else {
            throw .data("Unknown schema type: \(object["type"]?.text ?? "null")")
        }
        var schema: ConnectSchema
        switch type {
        case .array:
            guard let items = object["items"] else { throw .data("Array schema did not specify the items type") }
            schema = .array(of: try self.schema(from: items))
        case .map:
            guard let keys = object["keys"], let values = object["values"] else {
                throw .data("Map schema did not specify the key and value types")
            }
            schema = .map(keys: try self.schema(from: keys), values: try self.schema(from: values))
        case .struct:
            schema = ConnectSchema(.struct)
            guard case .array(let fields)? = object["fields"] else {
                throw .data("Struct schema's \"fields\" argument is not an array.")
            }
            for field in fields {
                guard case .string(let name)? = field.object?["field"] else {
                    throw .data("Struct schema's field name not specified properly")
                }
                schema.fields.append(.init(name, try self.schema(from: field)))
            }
        default:
            schema = ConnectSchema(type)
        }
        if case .bool(let optional)? = object["optional"] { schema.optional = optional }
        if case .string(let name)? = object["name"] { schema.name = name }
        if case .int(let version)? = object["version"] { schema.version = Int(version) }
        if case .string(let doc)? = object["doc"] { schema.doc = doc }
        if case .object(let parameters)? = object["parameters"] {
            schema.parameters = parameters.members.map { ($0.name, $0.value.text) }
        }
        if let defaultValue = object["default"], !defaultValue.isNull {
            schema.defaultValue = try value(defaultValue, as: schema)
        }
        return schema
    }

    /// A JSON payload read as data of `schema`: integers checked, bytes decoded from base64, struct fields in the
    /// schema's order.
    public static func value(_ payload: ConnectValue, as schema: ConnectSchema) throws(ConnectError) -> ConnectValue {
        if payload.isNull {
            if let defaultValue = schema.defaultValue { return defaultValue }
            guard schema.optional else {
                throw .data("Invalid null value for required \(schema.type.rawValue.uppercased()) field")
            }
            return .null
        }
        switch (schema.type, payload) {
        case (.boolean, .bool), (.string, .string): return payload
        case (let type, .int(let number)) where type.isInteger:
            return .int(number)
        case (.float32, .int(let number)), (.float64, .int(let number)): return .double(Double(number))
        case (.float32, .double), (.float64, .double): return payload
        case (.int64, .string(let text)) where schema.name == ConnectSchema.timestampName:
            guard let number = Int64(text) else { throw .data("Invalid Timestamp value \(text)") }
            return .int(number)
        case (.bytes, .string(let text)):
            guard let bytes = Data(base64Encoded: text) else { throw .data("Invalid bytes field: not base64") }
            return .bytes(Array(bytes))
        case (.bytes, .double(let number)) where schema.name == ConnectSchema.decimalName:
            return .string(String(number))
        case (.array, .array(let elements)):
            guard let items = schema.items else { return payload }
            var converted: [ConnectValue] = []
            for element in elements { converted.append(try value(element, as: items)) }
            return .array(converted)
        case (.map, .object(let object)):
            guard let values = schema.valueSchema else { return payload }
            var converted = ConnectObject()
            for member in object.members {
                converted.members.append(.init(member.name, try value(member.value, as: values)))
            }
            return .object(converted)
        case (.struct, .object(let object)):
            var converted = ConnectObject()
            for field in schema.fields {
                converted.members.append(.init(field.name, try value(object[field.name] ?? .null, as: field.schema)))
            }
            return .object(converted)
        default:
            throw .data("Invalid value \(payload.text) for schema type \(schema.type.rawValue.uppercased())")
        }
    }

    /// Canonical JSON text of a source partition or offset: members sorted by name, so equal maps compare equal.
    public static func canonicalText(_ object: ConnectObject) -> String {
        var sorted = object
        sorted.members.sort { $0.name < $1.name }
        var writer = JSONWriter()
        try? writeValue(.object(sorted), schema: nil, to: &writer)
        return String(buffer: writer.buffer)
    }
}
