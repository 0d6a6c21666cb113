import Hummingbird
import NIOCore
import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// How keys and values are written in JSON: Confluent's embedded formats. `binary` is base64, `json` is the JSON
/// value itself (stored as its compact UTF-8 text), `string` (v3 only) a JSON string stored as UTF-8.
/// The schema formats need a schema registry, which this server does not have; they are recognised so that using
/// them gets a clear error instead of a confusing 415.
enum EmbeddedFormat: String, Sendable, CaseIterable {
    case binary
    case json
    case string
    case avro
    case jsonschema
    case protobuf

    var needsSchemaRegistry: Bool { self == .avro || self == .jsonschema || self == .protobuf }

    /// The v2 media type of the format, e.g. `application/vnd.kafka.binary.v2+json`.
    var v2MediaType: String { "application/vnd.kafka.\(rawValue).v2+json" }

    static let v2Metadata = "application/vnd.kafka.v2+json"

    /// What a v2 produce body may be: the embedded types only (`application/json` is 415, as in Confluent).
    static let v2ProduceBodies = BodyTypes(Set(allCases.filter { $0 != .string }.map(\.v2MediaType)))

    /// What a v2 consumer-management body may be: the v2 type, `application/json`, or any embedded type.
    static let v2ManagementBodies = BodyTypes([v2Metadata, MediaType.json]).union(v2ProduceBodies)

    /// The embedded format a v2 media type names (nil for the plain v2 type and anything else).
    static func fromV2MediaType(_ type: Substring) -> EmbeddedFormat? {
        let lowered = type.lowercased()
        guard lowered.hasPrefix("application/vnd.kafka."), lowered.hasSuffix(".v2+json") else { return nil }
        let name = lowered.dropFirst("application/vnd.kafka.".count).dropLast(".v2+json".count)
        guard let format = EmbeddedFormat(rawValue: String(name)), format != .string else { return nil }
        return format
    }
}

/// Reads a key or value in an embedded format from JSON and writes it to storage; writes one back as JSON.
enum EmbeddedCodec {
    /// Reads the next JSON value as data in `format`, appending its bytes to `bytes`; nil for JSON null.
    static func read(
        _ reader: inout JSONReader,
        format: EmbeddedFormat,
        into bytes: inout ProducerRecords
    ) throws -> Range<Int>? {
        if reader.readNullIfPresent() { return nil }
        let start = bytes.bytes.writerIndex
        switch format {
        case .binary:
            guard try reader.peekKind() == .string else {
                let text = try describeNext(&reader)
                throw APIError.badRequest("Bad Request: data=\(text) is not a base64 string.")
            }
            let (range, escaped) = try reader.readRawString()
            var decoded = false
            if escaped {
                // Base64 never needs escapes, but `\/` is a legal way to write `/`.
                let unescaped = try reader.unescapedBytes(range)
                decoded = unescaped.withUnsafeBytes { Base64.decode($0, into: &bytes.bytes) }
            } else {
                decoded = Base64.decode(UnsafeRawBufferPointer(rebasing: reader.bytes[range]), into: &bytes.bytes)
            }
            guard decoded else {
                let text = String(
                    decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[range].prefix(64)),
                    as: UTF8.self
                )
                throw APIError.badRequest("Bad Request: data=\(text) is not a valid base64 string.")
            }
        case .json:
            try reader.copyCompactValue(into: &bytes.bytes)
        case .string:
            guard try reader.peekKind() == .string else {
                let text = try describeNext(&reader)
                throw APIError.badRequest("Bad Request: data=\(text) is not a string.")
            }
            try reader.readString(into: &bytes.bytes)
        case .avro, .jsonschema, .protobuf:
            throw APIError.schemaRegistryRequired(format.rawValue)
        }
        return start..<bytes.bytes.writerIndex
    }

    /// The next value's text, shortened, for an error message (consumes it).
    private static func describeNext(_ reader: inout JSONReader) throws -> String {
        var scratch = ByteBuffer()
        try reader.copyCompactValue(into: &scratch)
        let text = String(buffer: scratch)
        return text.count > 64 ? String(text.prefix(64)) + "…" : text
    }

    /// Writes stored bytes as a JSON value in `format`. JSON that is not valid (data produced in another format)
    /// fails with 42203, since it cannot be shown as JSON.
    static func write(_ bytes: ByteBuffer?, format: EmbeddedFormat, to writer: inout JSONWriter) throws {
        guard let bytes else {
            writer.raw("null")
            return
        }
        switch format {
        case .binary, .avro, .jsonschema, .protobuf:
            writer.base64String(bytes)
        case .json:
            let valid = bytes.withUnsafeReadableBytes { raw -> Bool in
                var reader = JSONReader(raw)
                do {
                    try reader.skipValue()
                    try reader.expectEnd()
                    return true
                } catch {
                    return false
                }
            }
            guard valid else {
                throw APIError(
                    .unprocessableContent,
                    42203,
                    "Conversion of JSON to Object failed: a record's data is not JSON; read it with a binary consumer."
                )
            }
            writer.raw(bytes)
        case .string:
            let valid = bytes.withUnsafeReadableBytes { raw -> Bool in
                guard String(validating: raw, as: UTF8.self) != nil else { return false }
                writer.string(utf8: raw)
                return true
            }
            guard valid else {
                throw APIError(
                    .unprocessableContent,
                    42203,
                    "Conversion of data to a string failed: a record's data is not UTF-8; read it as binary."
                )
            }
        }
    }

    /// Headers as `[{"<nameField>": name, "value": base64 or null}]`: v2 records name the field `key` (as Strimzi and
    /// Karapace do), v3 `name` (as v3 produce takes them).
    static func writeHeaders(_ headers: [RecordHeader], nameField: StaticString, to writer: inout JSONWriter) {
        writer.raw("[")
        for (index, header) in headers.enumerated() {
            writer.raw(index > 0 ? ",{\"" : "{\"")
            writer.raw(nameField)
            writer.raw("\":")
            writer.string(header.key)
            writer.raw(",\"value\":")
            if let value = header.value { writer.base64String(value) } else { writer.raw("null") }
            writer.raw("}")
        }
        writer.raw("]")
    }
}
