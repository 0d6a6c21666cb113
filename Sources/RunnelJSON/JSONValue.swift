public import NIOCore

/// A JSON document as a value, with object members in the order they were written or read.
///
/// Responses are built from these; request bodies that are small and admin-only are parsed into them. The produce
/// and consume paths never build a value per record: they read and write bytes with ``JSONReader`` and
/// ``JSONWriter`` directly.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's text as written (JSON numbers have no fixed precision).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        case .object(let members):
            for (key, value) in members {
                hasher.combine(key)
                hasher.combine(value)
            }
        }
    }

    public static func int<I: BinaryInteger>(_ value: I) -> JSONValue { .number(String(value)) }
    public static func optionalInt<I: BinaryInteger>(_ value: I?) -> JSONValue { value.map { .int($0) } ?? .null }
    public static func optionalString(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    // MARK: Reading

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var members: [(String, JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The number as a whole number, when it is one that fits.
    public var int64Value: Int64? {
        guard case .number(let text) = self else { return nil }
        if let value = Int64(text) { return value }
        // 1.0 or 1e3 are whole numbers too.
        guard let double = Double(text), double.rounded() == double, abs(double) < 9.0e18 else { return nil }
        return Int64(double)
    }

    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    /// A short description of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: Writing

    public func write(to buffer: inout ByteBuffer) {
        var writer = JSONWriter(buffer: buffer)
        buffer = ByteBuffer()
        writer.value(self)
        buffer = writer.buffer
    }

    public var bytes: ByteBuffer {
        var writer = JSONWriter(buffer: ByteBuffer())
        writer.value(self)
        return writer.buffer
    }

    public var text: String { String(buffer: bytes) }

    public static func parse(_ buffer: ByteBuffer) throws(JSONError) -> JSONValue {
        try buffer.withUnsafeReadableBytes { bytes throws(JSONError) in
            var reader = JSONReader(bytes)
            let value = try reader.readValue()
            try reader.expectEnd()
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(ByteBuffer(string: text))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .null }
}

/// Writes JSON text into a buffer, without building values.
public struct JSONWriter: Sendable {
    public var buffer: ByteBuffer

    public init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
    }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): raw(flag ? "true" : "false")
        case .number(let text): rawText(text)
        case .string(let text): string(text)
        case .array(let elements):
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                self.value(element)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let members):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (index, (key, member)) in members.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                string(key)
                buffer.writeInteger(UInt8(ascii: ":"))
                self.value(member)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Text written as is (punctuation, numbers, JSON already known to be valid).
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { _ = buffer.writeBytes($0) }
    }

    /// Text known to be valid JSON (a number's text, say), written as is.
    public mutating func rawText(_ text: String) {
        buffer.writeString(text)
    }

    public mutating func raw(_ bytes: ByteBuffer) {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    /// A whole number's decimal digits, written straight into the buffer (no string in between).
    public mutating func int<I: BinaryInteger>(_ value: I) {
        guard let wide = Int64(exactly: value) else {
            buffer.writeString(String(value))
            return
        }
        if wide < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        var magnitude = wide.magnitude
        var digits = 1
        var limit: UInt64 = 10
        while digits < 20 && magnitude >= limit {
            digits += 1
            limit = limit &* 10
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { out in
            var index = digits
            repeat {
                index -= 1
                out[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while index > 0
            return digits
        }
    }

    /// A quoted string with JSON's escapes.
    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// A quoted string from UTF-8 bytes (assumed valid UTF-8).
    public mutating func string(utf8 bytes: UnsafeRawBufferPointer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        var start = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if index > start { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<index])) }
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            default:
                raw("\\u00")
                buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                buffer.writeInteger(Self.hexDigits[Int(byte & 0x0F)])
            }
            start = index + 1
        }
        if start < bytes.count { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count])) }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A quoted base64 string of the bytes.
    public mutating func base64String(_ bytes: ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        bytes.withUnsafeReadableBytes { Base64.encode($0, into: &buffer) }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
