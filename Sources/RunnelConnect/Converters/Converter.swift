import Foundation
public import NIOCore
import RunnelHTTP

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
/// (`schemas.enable`); plain JSON without it.
struct JsonConverter: Converter {
    let schemasEnabled: Bool
    let decimalNumeric: Bool

    init(config: [String: String], isKey: Bool) throws(ConnectError) {
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

    func fromConnectData(topic: String, schema: ConnectSchema?, value: ConnectValue) throws(ConnectError) -> ByteBuffer?
    {
        if !schemasEnabled && value.isNull { return nil }
        if schemasEnabled && schema == nil && value.isNull { return nil }
        var writer = JSONWriter()
        if schemasEnabled {
            writer.raw("{\"schema\":")
            if let schema { ConnectJSON.writeSchema(schema, to: &writer) } else { writer.raw("null") }
            writer.raw(",\"payload\":")
            try ConnectJSON.writeValue(value, schema: schema, decimalNumeric: decimalNumeric, to: &writer)
            writer.raw("}")
        } else {
            try ConnectJSON.writeValue(value, schema: schema, decimalNumeric: decimalNumeric, to: &writer)
        }
        return writer.buffer
    }

    func toConnectData(
        topic: String,
        bytes: ByteBuffer?
    ) throws(ConnectError) -> (schema: ConnectSchema?, value: ConnectValue) {
        guard let bytes, bytes.readableBytes > 0 else { return (nil, .null) }
        let parsed: ConnectValue
        do {
            parsed = try ConnectJSON.parse(bytes)
        } catch {
            throw .data("Converting byte[] to Kafka Connect data failed due to serialization error: \(error)")
        }
        guard schemasEnabled else { return (nil, parsed) }
        guard case .object(let envelope) = parsed, envelope.members.count == 2,
            let schemaNode = envelope["schema"], let payload = envelope["payload"]
        else {
            throw .data(
                "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration."
            )
        }
        if schemaNode.isNull { return (nil, payload) }
        let schema = try ConnectJSON.schema(from: schemaNode)
        return (schema, try ConnectJSON.value(payload, as: schema))
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
