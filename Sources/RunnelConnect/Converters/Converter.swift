import Foundation
public import NIOCore
import RunnelJSON
import Synchronization

/// Turns a record's key or value between Kafka bytes and Connect data, configured from `key.converter.*` or
/// `value.converter.*` keys.
public protocol Converter: Sendable {
    init(config: [String: String], isKey: Bool) throws(ConnectError)
    /// The bytes to store for a value; nil for a null value (a tombstone).
    func fromConnectData(topic: String, schema: ConnectSchema?, value: ConnectValue) throws(ConnectError) -> ByteBuffer?
    func toConnectData(
        topic: String,
        bytes: ByteBuffer?
    ) throws(ConnectError) -> (schema: ConnectSchema?, value: ConnectValue)
}

/// `org.apache.kafka.connect.storage.StringConverter`: UTF-8 text.
struct StringConverter: Converter {
    init(config: [String: String], isKey: Bool) throws(ConnectError) {
        if let encoding = config["converter.encoding"], !["utf-8", "utf8"].contains(encoding.lowercased()) {
            throw .config("Unsupported converter.encoding \(encoding): Runnel's StringConverter writes UTF-8")
        }
    }

    func fromConnectData(topic: String, schema: ConnectSchema?, value: ConnectValue) throws(ConnectError) -> ByteBuffer?
    {
        switch value {
        case .null: return nil
        case .string(let text): return ByteBuffer(string: text)
        case .bytes(let bytes): return ByteBuffer(bytes: bytes)
        default: return ByteBuffer(string: value.text)
        }
    }

    func toConnectData(
        topic: String,
        bytes: ByteBuffer?
    ) throws(ConnectError) -> (schema: ConnectSchema?, value: ConnectValue) {
        guard let bytes else { return (.optionalString, .null) }
        return (.optionalString, .string(String(buffer: bytes)))
    }
}

/// `org.apache.kafka.connect.converters.ByteArrayConverter`: bytes as they are.
struct ByteArrayConverter: Converter {
    init(config: [String: String], isKey: Bool) throws(ConnectError) {}

    func fromConnectData(topic: String, schema: ConnectSchema?, value: ConnectValue) throws(ConnectError) -> ByteBuffer?
    {
        if let schema, schema.type != .bytes {
            throw .data("Invalid schema type for ByteArrayConverter: \(schema.type.rawValue.uppercased())")
        }
        switch value {
        case .null: return nil
        case .bytes(let bytes): return ByteBuffer(bytes: bytes)
        default: throw .data("ByteArrayConverter is not compatible with objects of type \(value.typeName)")
        }
    }

    func toConnectData(
        topic: String,
        bytes: ByteBuffer?
    ) throws(ConnectError) -> (schema: ConnectSchema?, value: ConnectValue) {
        guard let bytes else { return (.optionalBytes, .null) }
        return (.optionalBytes, .bytes(Array(bytes.readableBytesView)))
    }
}

/// `org.apache.kafka.connect.json.JsonConverter`: JSON, by default in the `{"schema":…,"payload":…}` envelope
/// (`schemas.enable`); plain JSON without it. Records of a topic mostly share one schema, so the converter keeps
/// the last schema it wrote (as JSON) and the last it read (parsed), like Kafka's `schemas.cache.size`.
public struct JsonConverter: Converter {
    public let schemasEnabled: Bool
    public let decimalNumeric: Bool
    private let cache = SchemaCache()

    /// The last schema written and its JSON; the last schema read, by its JSON bytes.
    final class SchemaCache: Sendable {
        let written = Mutex<(ConnectSchema, ByteBuffer)?>(nil)
        let read = Mutex<(ByteBuffer, ConnectSchema)?>(nil)
        /// The JSON of the field names of the struct fields last written (`"name":`, after a comma but for the
        /// first). The fields array is held, so the address of its storage identifies it.
        let fieldNames = Mutex<(fields: [ConnectSchema.Field], names: [ByteBuffer])?>(nil)
    }

    public init(config: [String: String], isKey: Bool) throws(ConnectError) {
        let enable = config["schemas.enable"]?.lowercased() ?? "true"
        guard enable == "true" || enable == "false" else {
            throw .config(
                "Invalid value \(enable) for configuration schemas.enable: Expected value to be either true or false"
            )
        }
        schemasEnabled = enable == "true"
        let decimal = config["decimal.format"]?.uppercased() ?? "BASE64"
        guard decimal == "BASE64" || decimal == "NUMERIC" else {
            throw .config(
                "Invalid value \(decimal) for configuration decimal.format: String must be one of: BASE64, NUMERIC"
            )
        }
        decimalNumeric = decimal == "NUMERIC"
    }

    public func fromConnectData(
        topic: String,
        schema: ConnectSchema?,
        value: ConnectValue
    ) throws(ConnectError) -> ByteBuffer? {
        if !schemasEnabled && value.isNull { return nil }
        if schemasEnabled && schema == nil && value.isNull { return nil }
        let estimate = if case .string(let text) = value { text.utf8.count + 96 } else { 256 }
        var writer = JSONWriter(buffer: ByteBufferAllocator().buffer(capacity: estimate))
        if schemasEnabled {
            writer.raw("{\"schema\":")
            if let schema {
                writer.raw(schemaJSON(schema))
            } else {
                writer.raw("null")
            }
            writer.raw(",\"payload\":")
            try writePayload(value, schema: schema, to: &writer)
            writer.raw("}")
        } else {
            try writePayload(value, schema: schema, to: &writer)
        }
        return writer.buffer
    }

    /// The value; a struct (records of a source mostly share one) with its field names written once and reused.
    private func writePayload(
        _ value: ConnectValue,
        schema: ConnectSchema?,
        to writer: inout JSONWriter
    ) throws(ConnectError) {
        guard let schema, schema.type == .struct, case .object(let object) = value else {
            try ConnectJSON.writeValue(value, schema: schema, decimalNumeric: decimalNumeric, to: &writer)
            return
        }
        let fields = schema.fields
        let names = fieldNames(fields)
        let members = object.members
        writer.raw("{")
        for index in fields.indices {
            writer.raw(names[index])
            // Members usually come in the schema's order: look by position first.
            let member =
                index < members.count && members[index].name == fields[index].name
                ? members[index].value : (object[fields[index].name] ?? .null)
            try ConnectJSON.writeValue(
                member,
                schema: fields[index].schema,
                decimalNumeric: decimalNumeric,
                to: &writer
            )
        }
        writer.raw("}")
    }

    private func fieldNames(_ fields: [ConnectSchema.Field]) -> [ByteBuffer] {
        cache.fieldNames.withLock { cached in
            if let cached, cached.fields.count == fields.count,
                cached.fields.withUnsafeBufferPointer({ held in
                    fields.withUnsafeBufferPointer { held.baseAddress == $0.baseAddress }
                })
            {
                return cached.names
            }
            let names = fields.enumerated().map { index, field in
                var writer = JSONWriter()
                if index > 0 { writer.raw(",") }
                writer.string(field.name)
                writer.raw(":")
                return writer.buffer
            }
            cached = (fields, names)
            return names
        }
    }

    private func schemaJSON(_ schema: ConnectSchema) -> ByteBuffer {
        if let (cached, json) = cache.written.withLock({ $0 }), cached == schema { return json }
        var writer = JSONWriter()
        ConnectJSON.writeSchema(schema, to: &writer)
        let json = writer.buffer
        cache.written.withLock { $0 = (schema, json) }
        return json
    }

    public func toConnectData(
        topic: String,
        bytes: ByteBuffer?
    ) throws(ConnectError) -> (schema: ConnectSchema?, value: ConnectValue) {
        guard let bytes, bytes.readableBytes > 0 else { return (nil, .null) }
        guard schemasEnabled else {
            do {
                return (nil, try ConnectJSON.parse(bytes))
            } catch {
                throw .data("Converting byte[] to Kafka Connect data failed due to serialization error: \(error)")
            }
        }
        let envelope: (schema: ByteBuffer?, payload: ConnectValue)
        do {
            envelope = try Self.readEnvelope(bytes)
        } catch let error as ConnectError {
            throw error
        } catch {
            throw .data("Converting byte[] to Kafka Connect data failed due to serialization error: \(error)")
        }
        guard let schemaBytes = envelope.schema else { return (nil, envelope.payload) }
        let schema: ConnectSchema
        if let (cachedBytes, cached) = cache.read.withLock({ $0 }), cachedBytes == schemaBytes {
            schema = cached
        } else {
            let node: ConnectValue
            do {
                node = try ConnectJSON.parse(schemaBytes)
            } catch {
                throw .data("Converting byte[] to Kafka Connect data failed due to serialization error: \(error)")
            }
            schema = try ConnectJSON.schema(from: node)
            cache.read.withLock { $0 = (schemaBytes, schema) }
        }
        return (schema, try ConnectJSON.value(envelope.payload, as: schema))
    }

    static let envelopeError = ConnectError.data(
        "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration."
    )

    /// The envelope's schema as its JSON bytes (nil when null) and its payload parsed.
    static func readEnvelope(_ bytes: ByteBuffer) throws -> (schema: ByteBuffer?, payload: ConnectValue) {
        try bytes.readableBytesView.withUnsafeBytes { raw in
            var reader = JSONReader(raw)
            guard try reader.peekKind() == .object else { throw envelopeError }
            try reader.beginObject()
            var schema: ByteBuffer??
            var payload: ConnectValue?
            while let key = try reader.nextKey() {
                switch key {
                case "schema" where schema == nil:
                    reader.skipWhitespace()
                    if reader.readNullIfPresent() {
                        schema = .some(nil)
                    } else {
                        let start = reader.position
                        try reader.skipValue()
                        schema = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<reader.position]))
                    }
                case "payload" where payload == nil:
                    payload = try ConnectJSON.read(&reader, depth: 1)
                default:
                    throw envelopeError
                }
            }
            try reader.expectEnd()
            guard let schema, let payload else { throw envelopeError }
            return (schema, payload)
        }
    }
}

extension ConnectValue {
    /// Java's class names, for error messages users of Kafka Connect recognise.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "java.lang.Boolean"
        case .int: "java.lang.Long"
        case .double: "java.lang.Double"
        case .string: "java.lang.String"
        case .bytes: "[B"
        case .array: "java.util.ArrayList"
        case .object: "java.util.HashMap"
        }
    }
}
