public import NIOCore

/// Malformed JSON, with the byte offset where reading stopped.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int

    public init(_ message: String, at offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict (RFC 8259) JSON reader over bytes that walks a document without building it.
///
/// The produce path reads a record's fields with it and copies a value's bytes as they are (compacted) instead of
/// parsing them into a tree; ``JSONValue/parse(_:)`` builds on it for small documents. It reads memory it does not
/// own: use it only inside the `withUnsafeReadableBytes` call that lent the bytes.
public struct JSONReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position = 0
    /// Nesting deeper than this is refused, so a hostile document cannot exhaust the stack.
    public static let maximumDepth = 256

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Moves to a position read before (to read a value again).
    public mutating func seek(to position: Int) {
        self.position = position
    }

    public var isAtEnd: Bool {
        mutating get {
            skipWhitespace()
            return position >= bytes.count
        }
    }

    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    public mutating func expectEnd() throws(JSONError) {
        if !isAtEnd { throw JSONError("Unexpected data after the JSON value", at: position) }
    }

    private func fail(_ message: String) -> JSONError { JSONError(message, at: position) }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
        guard peek() == byte else {
            throw position >= bytes.count ? fail("Unexpected end of JSON input") : fail("Expected \(what)")
        }
        position += 1
    }

    // MARK: Objects and arrays

    /// Reads `{`; then call ``nextKey()`` until it returns nil, reading each member's value in between.
    public mutating func beginObject() throws(JSONError) {
        try expect(UInt8(ascii: "{"), "'{'")
        first = true
    }

    /// Whether the container just opened has had no element yet. A nested container always ends with it false,
    /// which is what its parent needs after any value, so nesting needs no saved state.
    private var first = true

    /// The next member's key (its value comes next), or nil at the closing `}`.
    public mutating func nextKey() throws(JSONError) -> String? {
        guard try beginMember() else { return nil }
        let key = try readString()
        try expect(UInt8(ascii: ":"), "':'")
        return key
    }

    /// Past the `,` before the next member; false (past the `}`) when the object ends.
    private mutating func beginMember() throws(JSONError) -> Bool {
        if peek() == UInt8(ascii: "}") {
            position += 1
            first = false
            return false
        }
        if !first { try expect(UInt8(ascii: ","), "',' or '}'") }
        first = false
        return true
    }

    /// Like ``nextKey()``, without making a string: the index in `known` of the next member's key, `-1` for a key
    /// not in it, or nil at the closing `}`.
    public mutating func nextKey(in known: [StaticString]) throws(JSONError) -> Int? {
        guard try beginMember() else { return nil }
        let (range, escaped) = try readRawString()
        try expect(UInt8(ascii: ":"), "':'")
        var decoded: [UInt8] = []
        if escaped {
            decoded = try unescapedBytes(range)
        }
        return decoded.withUnsafeBytes { decodedBytes in
            let key = escaped ? decodedBytes : UnsafeRawBufferPointer(rebasing: bytes[range])
            for (index, name) in known.enumerated() where name.utf8CodeUnitCount == key.count {
                let same = name.withUTF8Buffer { name in
                    (0..<key.count).allSatisfy { name[$0] == key[$0] }
                }
                if same { return index }
            }
            return -1
        }
    }

    /// Reads `[`; then call ``nextElement()`` before each element until it returns false.
    public mutating func beginArray() throws(JSONError) {
        try expect(UInt8(ascii: "["), "'['")
        first = true
    }

    /// Whether another element follows (consuming the separating comma), or false at the closing `]`.
    public mutating func nextElement() throws(JSONError) -> Bool {
        if peek() == UInt8(ascii: "]") {
            position += 1
            first = false
            return false
        }
        if !first { try expect(UInt8(ascii: ","), "',' or ']'") }
        first = false
        return true
    }

    // MARK: Scalars

    /// Whether the next value is `null` (consumed if so).
    public mutating func readNullIfPresent() -> Bool {
        guard peek() == UInt8(ascii: "n"), matches("null") else { return false }
        position += 4
        return true
    }

    private func matches(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        return word.withUTF8Buffer { literal in
            for index in 0..<count where bytes[position + index] != literal[index] { return false }
            return true
        }
    }

    /// The next value's kind, by its first byte.
    public enum Kind: Sendable { case object, array, string, number, bool, null }

    public mutating func peekKind() throws(JSONError) -> Kind {
        guard let byte = peek() else { throw fail("Unexpected end of JSON input") }
        switch byte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw fail("Unexpected character")
        }
    }

    public mutating func readString() throws(JSONError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw fail("Expected a string") }
        let start = position + 1
        let (end, escaped) = try scanString()
        if !escaped {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(end - start)
        try unescape(start..<end, into: &decoded)
        return String(decoding: decoded, as: UTF8.self)
    }

    /// Reads a string into `buffer` as its UTF-8 bytes (escapes decoded), returning how many bytes it wrote.
    @discardableResult
    public mutating func readString(into buffer: inout ByteBuffer) throws(JSONError) -> Int {
        guard peek() == UInt8(ascii: "\"") else { throw fail("Expected a string") }
        let start = position + 1
        let (end, escaped) = try scanString()
        if !escaped { return buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) }
        var decoded: [UInt8] = []
        try unescape(start..<end, into: &decoded)
        return buffer.writeBytes(decoded)
    }

    /// The raw bytes between a string's quotes (escapes not decoded), for callers that decode them themselves
    /// (base64 has no escapes to decode).
    public mutating func readRawString() throws(JSONError) -> (range: Range<Int>, escaped: Bool) {
        guard peek() == UInt8(ascii: "\"") else { throw fail("Expected a string") }
        let start = position + 1
        let (end, escaped) = try scanString()
        return (start..<end, escaped)
    }

    public func unescapedBytes(_ range: Range<Int>) throws(JSONError) -> [UInt8] {
        var decoded: [UInt8] = []
        try unescape(range, into: &decoded)
        return decoded
    }

    /// Skips a string starting at `position` (on its quote); returns the index of its closing quote and whether it
    /// had escapes, leaving `position` after it. Validates escapes, control characters and UTF-8.
    private mutating func scanString() throws(JSONError) -> (end: Int, escaped: Bool) {
        var index = position + 1
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                position = index + 1
                return (index, escaped)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                guard index + 1 < bytes.count else { break }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= bytes.count, (2..<6).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil })
                    else {
                        position = index + 6 > bytes.count ? bytes.count : index
                        throw fail("Invalid \\u escape in string")
                    }
                    let unit = hex4(at: index + 2)
                    if (0xDC00..<0xE000).contains(unit) {
                        position = index
                        throw fail("Unpaired surrogate in string")
                    }
                    if (0xD800..<0xDC00).contains(unit) {
                        // A high surrogate must be followed by an escaped low one.
                        guard index + 12 <= bytes.count else {
                            if index + 6 < bytes.count && bytes[index + 6] != UInt8(ascii: "\\") {
                                position = index
                                throw fail("Unpaired surrogate in string")
                            }
                            position = bytes.count
                            throw fail("Unterminated string")
                        }
                        guard bytes[index + 6] == UInt8(ascii: "\\"), bytes[index + 7] == UInt8(ascii: "u"),
                            (8..<12).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil }),
                            (0xDC00..<0xE000).contains(hex4(at: index + 8))
                        else {
                            position = index
                            throw fail("Unpaired surrogate in string")
                        }
                        index += 6
                    }
                    index += 6
                default:
                    position = index
                    throw fail("Invalid escape in string")
                }
            } else if byte < 0x20 {
                position = index
                throw fail("Control character in string")
            } else if byte < 0x80 {
                index += 1
            } else {
                guard let length = Self.utf8SequenceLength(bytes, at: index) else {
                    // A sequence cut by the end of the bytes read so far is an unfinished string, not a bad one.
                    position = bytes.count - index < 4 ? bytes.count : index
                    throw fail(position == bytes.count ? "Unterminated string" : "Invalid UTF-8 in string")
                }
                index += length
            }
        }
        position = bytes.count
        throw fail("Unterminated string")
    }

    private static func utf8SequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int? {
        let lead = bytes[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        let second = bytes[index + 1]
        guard second >= lower && second <= upper else { return nil }
        for offset in 2..<max(2, length) where bytes[index + offset] & 0xC0 != 0x80 { return nil }
        return length
    }

    private static func hexValue(_ byte: UInt8) -> UInt16? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private func hex4(at index: Int) -> UInt16 {
        var value: UInt16 = 0
        for offset in 0..<4 { value = value << 4 | (Self.hexValue(bytes[index + offset]) ?? 0) }
        return value
    }

    /// Decodes a validated string body's escapes.
    private func unescape(_ range: Range<Int>, into output: inout [UInt8]) throws(JSONError) {
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hex4(at: index))
                index += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard index + 6 <= range.upperBound, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    else { throw JSONError("Unpaired surrogate in string", at: index) }
                    let low = UInt32(hex4(at: index + 2))
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw JSONError("Unpaired surrogate in string", at: index)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw JSONError("Unpaired surrogate in string", at: index)
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw JSONError("Invalid \\u escape in string", at: index)
                }
                output.append(contentsOf: String(Character(unicode)).utf8)
            default: output.append(escape)
            }
        }
    }

    public mutating func readBool() throws(JSONError) -> Bool {
        _ = peek()
        if matches("true") {
            position += 4
            return true
        }
        if matches("false") {
            position += 5
            return false
        }
        throw fail("Expected true or false")
    }

    /// A number's text (validated against JSON's grammar).
    public mutating func readNumberText() throws(JSONError) -> String {
        let range = try scanNumber()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A whole number that fits in 64 bits, or nil (consumed either way) for any other number.
    public mutating func readInt64() throws(JSONError) -> Int64? {
        let range = try scanNumber()
        var value: Int64 = 0
        var index = range.lowerBound
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                // A fraction or exponent: accept only whole values such as 1.0 or 1e3.
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
                guard let double = Double(text), double.rounded() == double, abs(double) < 9.0e18 else { return nil }
                return Int64(double)
            }
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (added, overflow2) =
                negative ? multiplied.subtractingReportingOverflow(digit) : multiplied.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = added
            index += 1
        }
        return value
    }

    private mutating func scanNumber() throws(JSONError) -> Range<Int> {
        _ = peek()
        let start = position
        var index = position
        func digits() -> Int {
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            return index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw fail("Invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw fail("Invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { throw fail("Invalid number") }
        }
        position = index
        return start..<index
    }

    // MARK: Whole values

    /// Where the value starting at `start` ends, when all of it is in `bytes`: the index after it; nil when more bytes
    /// are needed. It only balances quotes and brackets (a streaming reader waits for a whole value, then reads it,
    /// which validates it); a scalar ends at the first byte that cannot continue it.
    public static func endOfValue(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        var index = start
        var depth = 0
        var inString = false
        switch bytes[start] {
        case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""):
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if inString {
                    if byte == UInt8(ascii: "\\") {
                        index += 1
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                        if depth == 0 { return index }
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth <= 0 { return index }
                default: break
                }
            }
            return nil
        default:
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"),
                    UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""):
                    return index
                default: index += 1
                }
            }
            return nil
        }
    }

    /// Skips one value, validating it.
    public mutating func skipValue(depth: Int = 0) throws(JSONError) {
        guard depth < Self.maximumDepth else { throw fail("JSON nested too deeply") }
        switch try peekKind() {
        case .string: _ = try scanString()
        case .number: _ = try scanNumber()
        case .bool: _ = try readBool()
        case .null:
            guard readNullIfPresent() else { throw fail("Expected null") }
        case .array:
            try beginArray()
            while try nextElement() {
                try skipValue(depth: depth + 1)
            }
        case .object:
            try beginObject()
            while try nextKey() != nil {
                try skipValue(depth: depth + 1)
            }
        }
    }

    /// Validates one value and copies it into `buffer` without insignificant whitespace (the bytes a JSON
    /// serializer would write for it), in one pass over it. Returns the number of bytes written; on malformed JSON,
    /// throws and leaves `buffer` as it was.
    @discardableResult
    public mutating func copyCompactValue(into buffer: inout ByteBuffer) throws(JSONError) -> Int {
        _ = peek()
        // The copy is never longer than what is left to read.
        let capacity = bytes.count - position
        return try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out throws(JSONError) in
            try copyCompact(to: out)
        }
    }

    /// Where a value is inside its containers while it is copied.
    private enum CopyState {
        case value
        /// Just after `[`: a value or `]`.
        case valueOrEnd
        /// Just after `{`: a key or `}`.
        case keyOrEnd
        /// After `,` in an object.
        case key
        case colon
        case afterValue
    }

    private mutating func copyCompact(to out: UnsafeMutableRawBufferPointer) throws(JSONError) -> Int {
        var written = 0
        // One bit per open container: 1 for an object, 0 for an array.
        var containers: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var depth = 0
        var state = CopyState.value
        let source = bytes
        func copy(_ range: Range<Int>) {
            guard let from = source.baseAddress, let to = out.baseAddress else { return }
            (to + written).copyMemory(from: from + range.lowerBound, byteCount: range.count)
            written += range.count
        }
        func isObject(_ level: Int) -> Bool {
            let word: UInt64
            switch level / 64 {
            case 0: word = containers.0
            case 1: word = containers.1
            case 2: word = containers.2
            default: word = containers.3
            }
            return word & (1 << UInt64(level % 64)) != 0
        }
        func open(_ object: Bool) throws(JSONError) {
            guard depth < Self.maximumDepth else { throw fail("JSON nested too deeply") }
            let bit: UInt64 = 1 << UInt64(depth % 64)
            switch depth / 64 {
            case 0: containers.0 = object ? containers.0 | bit : containers.0 & ~bit
            case 1: containers.1 = object ? containers.1 | bit : containers.1 & ~bit
            case 2: containers.2 = object ? containers.2 | bit : containers.2 & ~bit
            default: containers.3 = object ? containers.3 | bit : containers.3 & ~bit
            }
            depth += 1
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw fail("Unexpected end of JSON input") }
            let byte = bytes[position]
            switch state {
            case .value, .valueOrEnd:
                if state == .valueOrEnd && byte == UInt8(ascii: "]") {
                    depth -= 1
                    copy(position..<position + 1)
                    position += 1
                    state = .afterValue
                    break
                }
                let start = position
                switch byte {
                case UInt8(ascii: "{"):
                    try open(true)
                    position += 1
                    state = .keyOrEnd
                case UInt8(ascii: "["):
                    try open(false)
                    position += 1
                    state = .valueOrEnd
                case UInt8(ascii: "\""):
                    _ = try scanString()
                    state = .afterValue
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    _ = try scanNumber()
                    state = .afterValue
                case UInt8(ascii: "t"), UInt8(ascii: "f"):
                    _ = try readBool()
                    state = .afterValue
                case UInt8(ascii: "n"):
                    guard readNullIfPresent() else { throw fail("Expected null") }
                    state = .afterValue
                default:
                    throw fail("Unexpected character")
                }
                copy(start..<position)
            case .keyOrEnd, .key:
                if state == .keyOrEnd && byte == UInt8(ascii: "}") {
                    depth -= 1
                    copy(position..<position + 1)
                    position += 1
                    state = .afterValue
                    break
                }
                guard byte == UInt8(ascii: "\"") else { throw fail("Expected a string") }
                let start = position
                _ = try scanString()
                copy(start..<position)
                state = .colon
            case .colon:
                guard byte == UInt8(ascii: ":") else { throw fail("Expected ':'") }
                copy(position..<position + 1)
                position += 1
                state = .value
            case .afterValue:
                let inObject = isObject(depth - 1)
                if byte == UInt8(ascii: ",") {
                    state = inObject ? .key : .value
                } else if byte == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    depth -= 1
                } else {
                    throw fail(inObject ? "Expected ',' or '}'" : "Expected ',' or ']'")
                }
                copy(position..<position + 1)
                position += 1
            }
            if state == .afterValue && depth == 0 { return written }
        }
    }

    public mutating func readValue(depth: Int = 0) throws(JSONError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw fail("JSON nested too deeply") }
        switch try peekKind() {
        case .string: return .string(try readString())
        case .number: return .number(try readNumberText())
        case .bool: return .bool(try readBool())
        case .null:
            guard readNullIfPresent() else { throw fail("Expected null") }
            return .null
        case .array:
            try beginArray()
            var elements: [JSONValue] = []
            while try nextElement() {
                elements.append(try readValue(depth: depth + 1))
            }
            return .array(elements)
        case .object:
            try beginObject()
            var members: [(String, JSONValue)] = []
            while let key = try nextKey() {
                members.append((key, try readValue(depth: depth + 1)))
            }
            return .object(members)
        }
    }
}
